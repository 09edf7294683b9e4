"""Black-box tests of what the daemon trusts: its files, its account, its sockets.

Each test is an attack or a mistake seen in the field, played against the real command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, Client, running_daemon, write_secrets


def _eventually(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the daemon that is expected to refuse to start."""
    command = [sys.executable, "-m", "pysrsd", "-e", "0", "-d", "0"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return lines[0]


def test_fifo_as_secrets_file_exits_2_at_start(tmp_path: Path) -> None:
    fifo = tmp_path / "secrets"
    os.mkfifo(fifo)  # nobody writes: a blocking open would hang the start for ever
    line = one_line(start(DOMAIN, str(fifo)))
    assert line.startswith("pysrsd: secrets-file: ") and "is a FIFO" in line


def test_fifo_swapped_in_keeps_the_last_secrets_and_sigterm_works(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon, Client(daemon.forward_port) as fwd:
        before = fwd.get(b"alice@example.com")
        os.mkfifo(tmp_path / "fifo")
        os.replace(tmp_path / "fifo", secrets)  # seen by the change watcher, then SIGHUP
        daemon.signal(signal.SIGHUP)
        assert _eventually(lambda: "is a FIFO" in daemon.log_text())
        assert fwd.get(b"alice@example.com") == before
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        pytest.param(0o666, "file", id="world-writable-file"),
        pytest.param(0o620, "file", id="group-writable-file"),
    ],
)
def test_config_file_writable_by_others_is_refused(tmp_path: Path, mode: int, what: str) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    config = tmp_path / "pysrsd.toml"
    config.write_text(f'domain = "{DOMAIN}"\nsecrets-file = "{secrets}"\n')
    config.chmod(mode)
    line = one_line(start("--config", str(config)))
    assert line.startswith("pysrsd: config: refusing ") and f"{what} {config}" in line


def test_socketmap_only_mode_opens_no_tcp_table_port(tmp_path: Path) -> None:
    from pysrsd import socketmap

    secrets = write_secrets(tmp_path / "secrets", SECRET)
    path = tmp_path / "socketmap.sock"
    args = ("--listen", "none", "--socketmap", f"unix:{path}")
    with running_daemon(tmp_path, secrets, *args) as daemon:
        assert daemon.ports == {}  # no forward/reverse listener was logged
        assert "table='forward'" not in daemon.log_text()
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            sock.sendall(socketmap.encode_request(b"forward", b"alice@example.com"))
            assert sock.recv(4096).split(b":", 1)[1].startswith(b"OK SRS0=")


def test_empty_listen_address_is_refused() -> None:
    line = one_line(start("--listen", "", DOMAIN, "/nonexistent"))
    assert line.startswith("pysrsd: --listen") and "empty address" in line
