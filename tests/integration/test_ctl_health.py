"""``pysrsctl health`` against a real daemon: the same settings, every endpoint, and the exit
status a monitoring system acts on (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    DOMAIN,
    SECRET,
    Client,
    empty_postfix_config,
    host_free_environment,
    running_daemon,
    write_secrets,
)


def health(*args: str, config: Path | None) -> subprocess.CompletedProcess[str]:
    env = host_free_environment(
        PYSRSD_CONFIG=str(config) if config else os.devnull, MAIL_CONFIG=empty_postfix_config()
    )
    return subprocess.run(
        [sys.executable, "-m", "pysrsd.ctl", "health", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def config_for(
    tmp: Path, forward: int, reverse: int, *socketmaps: str, domain: str = DOMAIN
) -> Path:
    """The daemon's config file, as the administrator would have it."""
    path = tmp / "pysrsd.toml"
    lines = [
        f'domain = "{domain}"',
        f'secrets-file = "{tmp / "secrets"}"',
        f"forward-port = {forward}",
        f"reverse-port = {reverse}",
        "socketmap = [" + ", ".join(f'"{s}"' for s in socketmaps) + "]",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    short = Path(f"/tmp/pysrsd-health-{os.getpid()}")  # unix socket paths must be short
    short.mkdir(exist_ok=True)
    yield short
    for child in short.iterdir():
        child.unlink()
    short.rmdir()


def test_every_endpoint_answers_right(tmp_path: Path, socket_dir: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    sock = f"unix:{socket_dir / 'socketmap'}"
    with running_daemon(tmp_path, secrets, "--socketmap", sock) as daemon:
        config = config_for(tmp_path, daemon.forward_port, daemon.reverse_port, sock)
        result = health(config=config)
        assert result.returncode == 0, result.stdout + result.stderr
        (line,) = result.stdout.splitlines()
        assert line.startswith("PYSRSD OK: tcp_table 127.0.0.1 ")
        assert f"socketmap {sock} " in line and " ms" in line
        slow = health("--warning", "0", config=config)  # every answer takes more than 0 s
        assert slow.returncode == 1 and slow.stdout.startswith("PYSRSD WARNING: ")


def test_one_endpoint_down_is_a_warning_all_down_is_critical(
    tmp_path: Path, socket_dir: Path
) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    missing = f"unix:{socket_dir / 'nobody-listens'}"
    with running_daemon(tmp_path, secrets) as daemon:
        config = config_for(tmp_path, daemon.forward_port, daemon.reverse_port, missing)
        result = health(config=config)
        assert result.returncode == 1, result.stdout
        assert result.stdout.startswith("PYSRSD WARNING: ")
        assert f"socketmap {missing} " in result.stdout and "down" in result.stdout
    down = health(config=config)
    assert down.returncode == 2
    assert down.stdout.startswith("PYSRSD CRITICAL: ")


def test_a_wrong_answer_is_critical(tmp_path: Path) -> None:
    """A daemon signing for another domain (a stale or foreign instance) loses bounces."""
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        config = config_for(
            tmp_path, daemon.forward_port, daemon.reverse_port, domain="other.example"
        )
        result = health(config=config)
    assert result.returncode == 2, result.stdout
    assert result.stdout.startswith("PYSRSD CRITICAL: ") and "forward" in result.stdout


def test_without_a_configuration_the_state_is_unknown() -> None:
    result = health(config=None)
    assert result.returncode == 3
    assert result.stdout.startswith("PYSRSD UNKNOWN: ") and "--domain" in result.stdout


def test_the_probe_is_logged_at_debug_and_nothing_else_hides_as_it(tmp_path: Path) -> None:
    """A monitor every minute writes no rewrite lines; a look-alike (another case) does."""
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        config = config_for(tmp_path, daemon.forward_port, daemon.reverse_port)
        assert health(config=config).returncode == 0
        assert health(config=config).returncode == 0
        with Client(daemon.forward_port) as client:
            assert client.get(b"Pysrsd-Health-Probe@health.invalid").startswith(b"200 SRS0=")
        daemon.stop()
        text = daemon.log_text()
    rewrites = [line for line in text.splitlines() if "rewrite" in line]
    assert len(rewrites) == 1 and "Pysrsd-Health-Probe@" in rewrites[0], text
    assert [line for line in text.splitlines() if "health" in line.lower()] == rewrites
    with running_daemon(tmp_path, secrets, "--log-level", "debug") as daemon:
        config = config_for(tmp_path, daemon.forward_port, daemon.reverse_port)
        assert health(config=config).returncode == 0
        daemon.stop()
        probes = [line for line in daemon.log_text().splitlines() if "event='probe'" in line]
    assert [("level='debug'" in line, "table='" in line) for line in probes] == [(True, True)] * 2
