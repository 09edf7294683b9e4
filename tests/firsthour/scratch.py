"""A scratch root: this machine as the administrator sees it, through overlays that vanish.

``run_as_root(script)`` runs a bash script as root in a private mount namespace where
/etc, /opt, /usr/local, /var/lib, /var/spool/postfix, /var/log and /root are overlays whose
writable layer lives on a tmpfs of that namespace: the script can install, create accounts,
write units and edit main.cf, and the machine is unchanged afterwards. ``in_private_network``
wraps a part in a network namespace of its own (loopback only), so that the documented
ports (10001, 10002) cannot clash with anything on the host. The environment is a root
login's (Debian's PATH, no PYTHONPATH, no PYSRSD_*), so the installed program is the one run.
The host's own pysrsd, if any (/etc/pysrsd, /opt/pysrsd, the accounts...), is removed from the
overlays first: the scratch root starts as a machine where pysrsd was never installed.

``readme_block(name)`` is the shell block that follows ``<!-- tested: NAME -->`` in README.md:
tests run the documented commands as written.

``run_as_root(..., system=True)`` also overlays /usr and /var/cache, for a package install
(dpkg, apt-get): the shell function ``CHANGED`` then prints every path the script changed,
as ``TYPE PATH`` lines (find's %y): the overlays' upper layers hold the files written
(``f``, ``l``), the directories made or copied up to hold them (``d``), and deletions, which
overlayfs records as whiteouts (``c``). That is how a test checks that a purge leaves nothing
behind, as piuparts does.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness import require, require_root

ROOT = Path(__file__).resolve().parents[2]
OVERLAID = ("/etc", "/opt", "/usr/local", "/var/lib", "/var/spool/postfix", "/var/log", "/root")
SYSTEM = ("/usr", *OVERLAID, "/var/cache")  # /usr first: /usr/local keeps its own overlay
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TIMEOUT = 600  # a hang guard (the install downloads packages), never a measurement


def require_scratch_root() -> None:
    """Skip (or fail under PYSRSD_REQUIRE_SYSTEM=1) unless root can make mount namespaces."""
    require_root("a scratch root (mount namespaces, overlays)")
    require("unshare", "ip", "/usr/bin/python3")  # ip: iproute2, for in_private_network


def require_compiler() -> None:
    """A C compiler and the headers of the Python install.sh uses (/usr/bin/python3: Debian's
    python3-dev), for install.sh --compiled; or skip/fail."""
    require("/usr/bin/python3")
    found = subprocess.run(
        ["/usr/bin/python3", "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    require("cc", str(Path(found.stdout.strip()) / "Python.h"))  # gcc python3-dev


# Wait (bounded) until the daemon answers its health check.
WAIT_HEALTHY = """
for i in $(seq 300); do pysrsctl health > /dev/null 2>&1 && break; sleep 0.2; done
"""


def readme_block(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- tested: {name} -->\s*```sh\n(.*?)```", text, re.DOTALL)
    assert found, f"README.md has no shell block marked <!-- tested: {name} -->"
    return found.group(1)


# The scratch root starts as a machine without pysrsd, even where the host has it installed
# (its files and accounts are removed from the overlays only): tests see their own layout.
FORGET_PYSRSD = """
rm -rf /etc/pysrsd /var/lib/pysrsd /var/log/pysrsd /opt/pysrsd /var/spool/postfix/pysrsd \\
    /usr/local/sbin/pysrsd /usr/local/sbin/pysrsctl /etc/systemd/system/pysrsd* \\
    /usr/local/share/man/man8/pysrsd.8 /usr/local/share/man/man8/pysrsctl.8
for account in pysrsd pysrsdlog; do
    if getent passwd $account > /dev/null; then userdel $account; fi
    if getent group $account > /dev/null; then groupdel $account; fi
done
"""


def _prologue(tmpfs: Path, overlaid: tuple[str, ...]) -> str:
    lines = ["set -eu", f"mount -t tmpfs pysrsd-scratch {tmpfs}"]
    changed = []
    for index, directory in enumerate(overlaid):
        upper, work = tmpfs / f"upper{index}", tmpfs / f"work{index}"
        lines.append(f"mkdir -p {directory} {upper} {work}")
        lines.append(
            f"mount -t overlay overlay -o lowerdir={directory},upperdir={upper},"
            f"workdir={work} {directory}"
        )
        changed.append(f"(cd {upper} && find . -mindepth 1 -printf '%y {directory}/%P\\n')")
    lines.append("CHANGED() { " + "; ".join(changed) + "; }")  # (see the module's docstring)
    lines.append(FORGET_PYSRSD)
    lines.append(f"cd {ROOT}")
    return "\n".join(lines) + "\n"


def in_private_network(script: str) -> str:
    """``script`` in a network namespace of its own, with loopback up."""
    quoted = script.replace("'", "'\\''")
    return f"unshare --net bash -c 'set -eu; ip link set lo up\n{quoted}'\n"


def run_as_root(script: str, tmpfs: Path, system: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (bash) in the scratch root; ``tmpfs`` is an empty directory to mount;
    ``system``: /usr and /var/cache are overlaid too (a package install)."""
    tmpfs.mkdir(parents=True, exist_ok=True)
    prologue = _prologue(tmpfs, SYSTEM if system else OVERLAID)
    env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", prologue + script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )


def values(output: str) -> dict[str, str]:
    """``KEY=value`` lines a script printed with ``echo "@KEY=value"``."""
    return dict(line[1:].split("=", 1) for line in output.splitlines() if line.startswith("@"))
