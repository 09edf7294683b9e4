"""The exit statuses pysrsd(8) lists, each provoked on the real daemon: the man page (as
committed in man/) says what a supervisor or a script will see."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness import SECRET, Client, daemon_command, running_daemon, write_secrets

ROOT = Path(__file__).resolve().parents[2]


def listed() -> dict[int, str]:
    """EXIT STATUS of man/pysrsd.8: status → its text, on one line."""
    page = (ROOT / "man" / "pysrsd.8").read_text()
    section = page.split(".SH EXIT STATUS\n")[1].split(".SH ")[0]
    items = re.findall(r"\.TP\n\\fB(\d)\\fR\n(.*?)(?=\n\.TP|\Z)", section, re.DOTALL)
    return {int(code): " ".join(text.split()) for code, text in items}


def test_the_man_page_lists_what_the_daemon_exits_with(tmp_path: Path) -> None:
    statuses = listed()
    assert sorted(statuses) == [0, 1, 2], statuses
    assert "address already in use" in statuses[2]
    assert "second signal" in statuses[1]
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        assert daemon.stop() == 0  # SIGTERM: stopped cleanly
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [*daemon_command(secrets), "--forward-port", port]
        busy = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert busy.returncode == 2, busy.stderr
    assert "address already in use" in busy.stderr.lower() and "listen" in busy.stderr
    bad = subprocess.run(
        [*daemon_command(secrets), "--hash-length", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.forward_port):
        daemon.signal(signal.SIGTERM)  # the open connection keeps the drain waiting
        time.sleep(0.3)
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 1
