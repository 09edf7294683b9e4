"""The shipped daemontools service directory, run by the real svscan/supervise/multilog.

The directory is copied to a scratch place and changed only where the host forces it:
``env/`` gets the test's domain, secrets file and free ports (plus ``PYTHONPATH``, so that
``/usr/local/sbin/pysrsd``, replaced by a two-line wrapper around this interpreter, imports the
checkout), and the two ``setuidgid`` accounts become ones that exist here: ``nobody`` when it
can run this interpreter, else ``root`` with ``PYSRSD_ALLOW_ROOT=1``; without root, ``setuidgid``
is dropped. The pfix-srsd run script of the 2012 article is checked the same way with only its
program name changed.

Waiting is polling with a generous deadline (a hang guard, never a measurement).
Needs svscan, supervise, svc, svstat, envdir, setuidgid, multilog: skipped when missing, a
failure when PYSRSD_REQUIRE_SYSTEM=1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from harness import free_ports

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "contrib" / "daemontools" / "pysrsd"
PROGRAM = "/usr/local/sbin/pysrsd"  # the one program path of the documented install
SRC = ROOT / "src"
REQUIRE_SYSTEM = os.environ.get("PYSRSD_REQUIRE_SYSTEM") == "1"
TOOLS = ("svscan", "supervise", "svc", "svstat", "envdir", "setuidgid", "multilog")
DEADLINE = 60.0
SECRET_1 = "first-test-secret-not-for-production"
SECRET_2 = "second-test-secret-not-for-production"
T = TypeVar("T")


def require_tools() -> None:
    missing = [name for name in TOOLS if shutil.which(name) is None]
    if missing:
        if REQUIRE_SYSTEM:
            pytest.fail(f"PYSRSD_REQUIRE_SYSTEM=1 but not installed: {missing}")
        pytest.skip(f"daemontools not installed: {missing}")


def eventually(
    what: str, probe: Callable[[], T | None], detail: Callable[[], str] = lambda: ""
) -> T:
    """Poll ``probe`` until it returns something other than None (hang guard only)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} {detail()}")
        time.sleep(0.05)


def sighup_reload_logged(log: str) -> bool:
    return any("reloaded" in line and "SIGHUP" in line for line in log.splitlines())


def lookup(port: int, key: str) -> str | None:
    """One tcp_table request; None while nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as conn:
            conn.sendall(f"get {key}\n".encode())
            reply = conn.makefile("rb").readline()
    except (ConnectionRefusedError, ConnectionResetError):
        return None
    return reply.decode().rstrip("\n") or None


def refused(port: int) -> bool | None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE).close()
    except ConnectionRefusedError:
        return True
    return None


def account_for_daemon() -> str | None:
    """The setuidgid account to use here; None when not root (setuidgid is dropped)."""
    if os.geteuid() != 0:
        return None
    probe = subprocess.run(
        ["setuidgid", "nobody", sys.executable, "-m", "pysrsd", "--help"],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        check=False,
        cwd="/",
    )
    return "nobody" if probe.returncode == 0 else "root"


@dataclass
class Service:
    """A service directory linked into a scan directory that a private svscan watches."""

    path: Path  # the link in the scan directory, as an admin addresses it
    forward: int
    reverse: int
    secrets: Path

    def svc(self, *flags: str) -> None:
        subprocess.run(["svc", *flags, str(self.path)], check=True, timeout=DEADLINE)

    def pid(self) -> int | None:
        """The daemon's pid while supervise reports it up."""
        out = subprocess.run(
            ["svstat", str(self.path)], capture_output=True, text=True, check=False
        ).stdout
        match = re.search(r": up \(pid (\d+)\)", out)
        return int(match.group(1)) if match else None

    def down(self) -> bool | None:
        out = subprocess.run(
            ["svstat", str(self.path)], capture_output=True, text=True, check=False
        ).stdout
        return True if ": down " in out else None

    def serving(self) -> str:
        return eventually("a forward answer", lambda: lookup(self.forward, "alice@example.com"))


def write_env(env: Path, values: dict[str, str]) -> None:
    for name, value in values.items():
        (env / name).write_text(value + "\n")


def set_account(script: Path, account: str | None) -> None:
    """Put this host's account in place of the shipped one (or drop setuidgid without root)."""
    text = script.read_text()
    replacement = "" if account is None else f"setuidgid {account} "
    new = re.sub(r"setuidgid \S+ ", replacement, text)
    assert new != text, f"{script} has no setuidgid"
    script.write_text(new)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A world-traversable scratch directory (the daemon may run as nobody)."""
    path = Path(tempfile.mkdtemp(prefix="pysrsd-dt-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def wrapper(scratch: Path) -> Path:
    """A bin directory whose ``pysrsd`` runs this checkout with this interpreter."""
    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    program = bin_dir / "pysrsd"
    program.write_text(f'#!/bin/sh\nexec {sys.executable} -m pysrsd "$@"\n')
    program.chmod(0o755)
    return bin_dir


class Scan:
    """A scan directory and, once started, the private svscan watching it."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env
        self.svscan: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start svscan after the links exist: its first scan is immediate, later ones 5 s apart."""
        self.svscan = subprocess.Popen(
            ["svscan", str(self.path)],
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.svscan is None:
            return
        for link in self.path.iterdir():
            for target in (link, link / "log"):
                if (target / "supervise").exists():
                    subprocess.run(["svc", "-dx", str(target)], check=False, timeout=DEADLINE)
        os.killpg(self.svscan.pid, signal.SIGTERM)  # the session start() created
        self.svscan.wait(timeout=DEADLINE)


@pytest.fixture
def scan(scratch: Path, wrapper: Path) -> Iterator[Scan]:
    """A scan directory whose svscan, if started, is stopped with all it started."""
    require_tools()
    scan_dir = scratch / "service"
    scan_dir.mkdir()
    env = {**os.environ, "PATH": f"{wrapper}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    scanner = Scan(scan_dir, env)
    try:
        yield scanner
    finally:
        scanner.stop()


def install(scratch: Path, scan_dir: Path, source: Path, name: str) -> tuple[Path, Path]:
    """Copy a service definition next to the scan directory; return (definition, link)."""
    definition = scratch / "defs" / name
    shutil.copytree(source, definition, symlinks=True)
    return definition, scan_dir / name


def make_secrets(scratch: Path, account: str | None) -> Path:
    secrets = scratch / "secrets"
    secrets.write_text(SECRET_1 + "\n")
    if account is not None:
        shutil.chown(secrets, account, None)
    secrets.chmod(0o400)
    return secrets


@pytest.fixture
def shipped(scratch: Path, scan: Scan, wrapper: Path) -> Service:
    """The shipped directory, configured as the README says, linked into the scan dir."""
    account = account_for_daemon()
    definition, link = install(scratch, scan.path, SHIPPED, "pysrsd")
    set_account(definition / "run", account)
    set_account(definition / "log" / "run", account)
    if account is not None:
        shutil.chown(definition / "log", account, None)  # multilog creates ./main here
    forward, reverse = free_ports(2)
    secrets = make_secrets(scratch, account)
    values = {
        "PYSRSD_DOMAIN": "forwarder.example",
        "PYSRSD_SECRETS_FILE": str(secrets),
        "PYSRSD_FORWARD_PORT": str(forward),
        "PYSRSD_REVERSE_PORT": str(reverse),
        "PYTHONPATH": str(SRC),
    }
    if account == "root":
        values["PYSRSD_ALLOW_ROOT"] = "1"
    shipped_names = {p.name for p in (SHIPPED / "env").iterdir()}
    # the settings live in /etc/pysrsd/pysrsd.toml: nothing in env/ may contradict it
    assert not {"PYSRSD_DOMAIN", "PYSRSD_SECRETS_FILE", "PYSRSD_CONFIG"} & shipped_names
    write_env(definition / "env", values)
    run = definition / "run"
    assert PROGRAM in run.read_text()
    run.write_text(run.read_text().replace(PROGRAM, str(wrapper / "pysrsd")))
    link.symlink_to(definition)
    scan.start()
    return Service(link, forward, reverse, secrets)


def test_shipped_directory_under_svscan(shipped: Service) -> None:
    first = shipped.serving()
    assert first.startswith("200 SRS0=")
    assert first.endswith("@forwarder.example")
    pid = eventually("supervise to report the daemon up", shipped.pid)

    # svc -h: SIGHUP reloads in the same process; a rotated secret takes over signing
    shipped.secrets.chmod(0o600)
    shipped.secrets.write_text(f"{SECRET_2}\n{SECRET_1}\n")
    shipped.secrets.chmod(0o400)
    shipped.svc("-h")
    log = shipped.path / "log" / "main" / "current"
    eventually(
        "a SIGHUP reload in the log",
        lambda: True if log.exists() and sighup_reload_logged(log.read_text()) else None,
        lambda: log.read_text() if log.exists() else "(no log)",
    )
    second = shipped.serving()
    assert second.startswith("200 SRS0=")
    assert second != first  # signed with the new secret
    assert shipped.pid() == pid
    old_address = first.removeprefix("200 ")
    assert lookup(shipped.reverse, old_address) == "200 alice@example.com"  # old one verifies

    # svc -t: SIGTERM, supervise starts a new process
    shipped.svc("-t")
    new_pid = eventually(
        "a new pid", lambda: p if (p := shipped.pid()) not in (None, pid) else None
    )
    assert new_pid != pid
    assert shipped.serving() == second

    # multilog t: every line TAI64N-stamped
    lines = log.read_text().splitlines()
    assert lines
    assert all(re.match(r"@[0-9a-f]{24} ", line) for line in lines), lines[:3]

    # svc -d: stopped, nothing listens
    shipped.svc("-d")
    eventually("svstat down", shipped.down)
    assert eventually("the port to close", lambda: refused(shipped.forward))


PFIX_SRSD_CONFIG = """\
DOMAIN={domain}
SECRETS={secrets}
OPTIONS="-I -e {forward} -d {reverse}"
"""

# The shape of the 2012 article's pfix-srsd run script (config file sourced, abort without
# it, setuidgid, -f, positional DOMAIN SECRETS, output appended to a log file). Only DAEMON
# differs from a pfix-srsd installation.
PFIX_SRSD_RUN = """\
#!/bin/sh
DAEMON={daemon}
PFIXSRSD_CONFIG={config}
if [ -f $PFIXSRSD_CONFIG ]; then
    . $PFIXSRSD_CONFIG
else
    echo "Error reading config file, aborting.."
    exit 1
fi
exec setuidgid postfix $DAEMON -f $OPTIONS $DOMAIN $SECRETS >> {logfile} 2>&1
"""


def test_pfix_srsd_run_script_with_only_the_program_name_changed(
    scratch: Path, scan: Scan, wrapper: Path
) -> None:
    account = account_for_daemon()
    forward, reverse = free_ports(2)
    secrets = make_secrets(scratch, account)
    config = scratch / "pfix-srsd.default"
    config.write_text(
        PFIX_SRSD_CONFIG.format(
            domain="forwarder.example", secrets=secrets, forward=forward, reverse=reverse
        )
    )
    source = scratch / "pfix-srsd"
    source.mkdir()
    run = source / "run"
    logfile = scratch / "pfix-srsd.log"
    logfile.touch()
    if account is not None:
        shutil.chown(logfile, account, None)
    # the program name is the only change; pysrsd needs the checkout on its path here
    daemon = f"{wrapper / 'pysrsd'}"
    run.write_text(PFIX_SRSD_RUN.format(daemon=daemon, config=config, logfile=logfile))
    set_account(run, account)
    if account == "root":  # root only because this interpreter is not readable by others
        run.write_text(run.read_text().replace("exec ", "PYSRSD_ALLOW_ROOT=1 exec ", 1))
    run.write_text(run.read_text().replace("#!/bin/sh\n", f"#!/bin/sh\nexport PYTHONPATH={SRC}\n"))
    run.chmod(0o755)
    definition, link = install(scratch, scan.path, source, "pfix-srsd")
    link.symlink_to(definition)
    scan.start()
    service = Service(link, forward, reverse, secrets)

    answer = service.serving()
    assert answer.startswith("200 SRS0=")
    assert lookup(reverse, answer.removeprefix("200 ")) == "200 alice@example.com"
    pid = eventually("supervise to report the daemon up", service.pid)
    service.svc("-h")
    eventually(
        "a SIGHUP reload in the log",
        lambda: True if sighup_reload_logged(logfile.read_text()) else None,
        logfile.read_text,
    )
    assert service.pid() == pid
