"""Black-box: the real ``pysrsd`` command, given common configuration mistakes."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Client, daemon_command, host_free_environment, running_daemon, write_secrets

from pysrsd.cli import EXIT_CONFIG


def _environment(**extra: str) -> dict[str, str]:
    return host_free_environment(**extra)


def test_broken_config_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", "integration-secret")
    config = tmp_path / "pysrsd.toml"
    config.write_text('# pysrsd\nlisten = ["127.0.0.1"]\nmax-age = 21 days\n')
    done = subprocess.run(
        daemon_command(secrets, "--config", str(config)),
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == EXIT_CONFIG
    assert done.stderr.splitlines() == [
        f"pysrsd: {config}:3: not valid TOML: Expected newline or end of document after a "
        "statement (column 14)"
    ]


def test_misspelt_key_in_config_file_is_named_with_a_suggestion(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", "integration-secret")
    config = tmp_path / "pysrsd.toml"
    config.write_text('secret-file = "/etc/pysrsd/secrets"\n')
    done = subprocess.run(
        [sys.executable, "-m", "pysrsd", "--config", str(config), "fwd.example"],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert secrets.exists()
    assert done.returncode == EXIT_CONFIG
    assert done.stderr == (
        f"pysrsd: {config}:1: secret-file: unknown setting; did you mean secrets-file?\n"
    )


def test_misspelt_variable_is_reported_at_start_and_the_daemon_serves(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", "integration-secret")
    config = tmp_path / "pysrsd.toml"
    config.write_text("")
    env = _environment(PYSRSD_CONFIG=str(config), PYSRSD_LOG_LEVLE="debug")
    with running_daemon(tmp_path, secrets, env=env) as daemon, Client(daemon.forward_port) as fwd:
        assert fwd.get(b"alice@example.com").startswith(b"200 SRS0=")
        warnings = [line for line in daemon.log_text().splitlines() if "unknown_variable" in line]
    assert len(warnings) == 1
    assert "level='warning'" in warnings[0]
    assert "variable='PYSRSD_LOG_LEVLE'" in warnings[0]
    assert "did you mean PYSRSD_LOG_LEVEL?" in warnings[0]


@pytest.mark.parametrize(
    ("days_ahead", "warned"),
    [
        pytest.param(1, False, id="tomorrow: the switch-over"),
        pytest.param(21, False, id="max-age days ahead"),
        pytest.param(400, True, id="far ahead"),
    ],
)
def test_a_far_future_classic_hash_window_is_a_warning(
    tmp_path: Path, days_ahead: int, warned: bool
) -> None:
    """It was logged at info only, while it keeps the forgeable classic hash accepted on every
    address stamped until then."""
    secrets = write_secrets(tmp_path / "secrets", "integration-secret")
    date = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=days_ahead)
    args = ("--accept-concatenated-before", str(date))
    with running_daemon(tmp_path, secrets, *args, env=_environment()) as daemon:
        far = [line for line in daemon.log_text().splitlines() if "concatenated_window_far" in line]
    assert len(far) == int(warned)
    if warned:
        assert "level='warning'" in far[0] and f"days_ahead={days_ahead}" in far[0]
