"""The steps of ``pysrsctl setup``: each is planned by looking (no change), and carries the
action that would bring the system to the layout, or none when that part is in place.

Owners are resolved when the action runs (an account created by an earlier step exists by
then). Files are written whole (a temporary file, then a rename), never over an existing one.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pysrsd.config.settings import _LABEL
from pysrsd.ctl import layout
from pysrsd.errors import ConfigError

SHIPPED = resources.files("pysrsd") / "contrib"


@dataclass(frozen=True)
class Step:
    text: str
    action: Callable[[], None] | None = None  # None: already in place


def carry_out(plan: list[Step], dry_run: bool) -> None:
    """Print each step (in place, would be done, being done) and, unless a dry run, do it."""
    for step in plan:
        if step.action is None:
            print(f"ok      {step.text}")
        elif dry_run:
            print(f"would   {step.text}")
        else:
            print(f"doing   {step.text}", flush=True)
            step.action()


def check_domain(domain: str) -> None:
    labels = domain.removesuffix(".").split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise ConfigError(f"setup: {domain!r} is not a domain name (e.g. forwarder.example)")


def postconf(name: str) -> str | None:
    """The value of a main.cf setting, or None when Postfix's postconf is not there."""
    try:
        result = system("postconf", "-h", name)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def system(*command: str) -> subprocess.CompletedProcess[str]:
    """One of the system's own tools (useradd, systemctl, postconf, postfix), from PATH."""
    return subprocess.run(  # noqa: S603 -- fixed tool names, arguments from this module
        command, capture_output=True, text=True, check=False, timeout=60
    )


def account_step(name: str) -> Step:
    try:
        pwd.getpwnam(name)
        return Step(f"account {name} exists")
    except KeyError:
        pass
    command = ["useradd", "--system", "--user-group", "--home-dir", "/nonexistent"]
    command += ["--no-create-home", "--shell", "/usr/sbin/nologin", name]
    return Step(
        f"create the system account and group {name} (no login)", lambda: run_checked(command)
    )


def run_checked(command: list[str]) -> None:
    """Run a tool; its failure (or, from Postfix, any complaint on stderr) stops setup."""
    result = system(*command)
    if result.returncode != 0 or (command[0].startswith("post") and result.stderr.strip()):
        raise ConfigError(f"setup: {' '.join(command)}: {result.stderr.strip() or 'failed'}")


def _ids(user: str, group: str) -> tuple[int, int]:
    try:
        return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise ConfigError(f"setup: no such account {exc.args[0]}") from None


def _in_place(path: Path, user: str, group: str, mode: int) -> bool:
    try:
        info, ids = path.lstat(), _ids(user, group)
    except (OSError, ConfigError):
        return False
    return (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (*ids, mode)


def _own(path: Path, user: str, group: str, mode: int) -> None:
    os.chown(path, *_ids(user, group), follow_symlinks=False)
    path.chmod(mode)


def directory_step(path: Path, user: str, group: str, mode: int) -> Step:
    where = f"{path}/ {user}:{group} {mode:04o}"
    if path.is_dir() and _in_place(path, user, group, mode):
        return Step(where)

    def make() -> None:
        path.mkdir(parents=True, exist_ok=True)
        _own(path, user, group, mode)

    return Step(f"make {where}", make)


def ownership_step(path: Path, user: str, group: str, mode: int, note: str) -> Step:
    where = f"{path} {user}:{group} {mode:04o}"
    if _in_place(path, user, group, mode):
        return Step(f"{where} ({note})")
    return Step(f"set {where} ({note})", lambda: _own(path, user, group, mode))


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that does not exist yet, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.link(tmp, path)  # fails if the file appeared meanwhile: never overwrite
    finally:
        Path(tmp).unlink(missing_ok=True)


def copy_step(name: str, target: Path, mode: int) -> Step:
    """A shipped file (contrib/NAME) installed at ``target`` unless one is there."""
    data = (SHIPPED / name).read_bytes()
    if target.exists():
        same = target.read_bytes() == data
        return Step(f"{target} exists, kept" + ("" if same else " (differs from the shipped)"))
    return Step(f"install {target}", lambda: write_new(target, data, mode))


def unit_steps(socketmap: bool) -> list[Step]:
    names = [*layout.UNITS, layout.SOCKETMAP_UNIT]
    plan = [_unit_step(name) for name in names]
    enable = ["pysrsd.service"] + (names[1:] if socketmap else [])
    plan.append(_enable_step(enable))
    return plan


def _unit_step(name: str) -> Step:
    """A unit the Debian package installed is enabled as it is: a copy in /etc would hide the
    package's later versions of it."""
    for packaged in (directory / name for directory in layout.PACKAGE_UNIT_DIRS):
        if packaged.exists() and not (layout.UNIT_DIR / name).exists():
            return Step(f"{packaged} (installed by the package)")
    return copy_step(f"systemd/{name}", layout.UNIT_DIR / name, 0o644)


def _enable_step(units: list[str]) -> Step:
    state = system("systemctl", "is-enabled", *units)
    if state.returncode == 0 and set(state.stdout.split()) == {"enabled"}:
        return Step(f"systemd: {' '.join(units)} enabled")
    booted = Path("/run/systemd/system").is_dir()  # offline (chroot, container): links only
    command = ["systemctl", "enable", *(["--now"] if booted else []), *units]

    def enable() -> None:
        if booted:
            run_checked(["systemctl", "daemon-reload"])
        run_checked(command)

    return Step(" ".join(command), enable)


def daemontools_steps(scan_dir: Path) -> list[Step]:
    service, shipped = layout.SERVICE_DIR, "daemontools/pysrsd"
    plan = [
        directory_step(service / "env", "root", "root", 0o755),
        directory_step(service / "log", "root", "root", 0o755),
        copy_step(f"{shipped}/run", service / "run", 0o755),
        copy_step(f"{shipped}/log/run", service / "log" / "run", 0o755),
        copy_step(f"{shipped}/env/PYSRSD_LOG_LEVEL", service / "env" / "PYSRSD_LOG_LEVEL", 0o644),
        directory_step(layout.LOG_DIR, layout.LOG_ACCOUNT, layout.LOG_ACCOUNT, 0o750),
        link_step(service / "log" / "main", layout.LOG_DIR),
    ]
    if not scan_dir.is_dir():
        raise ConfigError(f"setup --daemontools: {scan_dir} is not a directory (svscan's)")
    plan.append(link_step(scan_dir / "pysrsd", service))  # last: svscan starts it at once
    return plan


def link_step(link: Path, target: Path) -> Step:
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return Step(f"{link} -> {target}")
    if link.exists() or link.is_symlink():
        return Step(f"{link} exists and is not a link to {target}: kept")
    return Step(f"link {link} -> {target}", lambda: link.symlink_to(target))
