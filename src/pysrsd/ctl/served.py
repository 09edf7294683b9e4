"""``pysrsctl setup`` and a daemon already running: it serves what the config file says only
after a restart (a new socketmap endpoint) or a reload (a new exclusion file).

The running daemon is found as its service manager knows it: daemontools (``svok`` on the
service directory, ``svstat`` says up) or systemd (booted, ``systemctl is-active``). When the
config file changes, or the socketmap socket that Postfix is about to be pointed at does not
answer, setup restarts it (``svc -t``, ``systemctl restart``) and waits until the socket
answers, before any Postfix step: if it does not, setup stops and Postfix keeps the maps it
has. A daemon that no service manager runs is only told about (``note``).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from pysrsd.ctl import layout
from pysrsd.ctl.steps import Step, run_checked, system
from pysrsd.errors import ConfigError

WAIT_SECONDS = 20.0  # supervise restarts at once, or a second after a quick exit


def answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def manager() -> tuple[list[str], list[str]] | None:
    """The restart and reload commands of the running daemon's service manager, or None."""
    service = str(layout.SERVICE_DIR)
    try:
        if system("svok", service).returncode == 0 and ": up " in system("svstat", service).stdout:
            return ["svc", "-t", service], ["svc", "-h", service]
    except OSError:
        pass
    if Path("/run/systemd/system").is_dir():
        unit = "pysrsd.service"
        if system("systemctl", "is-active", "--quiet", unit).returncode == 0:
            return ["systemctl", "restart", unit], ["systemctl", "reload", unit]
    return None


def steps(changed: bool, restart: bool, sock: Path | None) -> tuple[list[Step], str]:
    """The steps that make a running daemon serve the config file (a restart when
    ``restart``, else a reload), and a note when no service manager runs it."""
    stale = sock is not None and not answers(sock)
    if not (changed or stale):
        return [], ""
    commands = manager()
    if commands is None:  # not running, or not by a service manager setup knows
        what = "a restart" if restart else "a reload (SIGHUP)"
        note = f"note: a pysrsd already running needs {what} to serve the new settings"
        return [], note if changed else ""
    command = commands[0] if restart or stale else commands[1]

    def apply() -> None:
        run_checked(command)
        if sock is not None:
            _wait(sock)

    where = f", then wait until unix:{sock} answers" if sock is not None else ""
    return [Step(f"{' '.join(command)}{where}", apply)], ""


def _wait(sock: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    time.sleep(0.5)  # the old process may answer until it has stopped
    while time.monotonic() < deadline:
        if answers(sock):
            return
        time.sleep(0.2)
    raise ConfigError(
        f"setup: pysrsd does not answer on unix:{sock} after a restart; Postfix is left as it "
        "was (see the daemon's log; pysrsctl check)"
    )
