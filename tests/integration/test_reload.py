"""Black-box reloads: the real daemon, its config file edited, then SIGHUP; its secrets file
edited under it."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import (
    SECRET,
    Client,
    Daemon,
    eventually,
    host_free_environment,
    running,
    write_secrets,
)

from pysrsd.srs.engine import Engine, Rewritten

OLD, NEW = "old.example", "new.example"
TIMEOUT = 15.0


def events(daemon: Daemon, name: str) -> list[str]:
    return [line for line in daemon.log_text().splitlines() if f"event='{name}'" in line]


def sighup(daemon: Daemon, event: str = "reloaded") -> str:
    """Signal, and return the reload's event line once it is logged."""
    before = len(events(daemon, event))
    daemon.signal(signal.SIGHUP)
    assert eventually(lambda: len(events(daemon, event)) > before), daemon.log_text()
    return events(daemon, event)[before]


def toml(path: Path, secrets: Path, **values: object) -> Path:
    lines = [f'secrets-file = "{secrets}"']
    for key, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else repr(value).replace("'", '"')
        lines.append(f"{key.replace('_', '-')} = {text}")
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def configured(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    """The daemon started with ``--config`` and ``flags`` only (no positional domain)."""
    command = [sys.executable, "-m", "pysrsd", "--config", str(tmp_path / "pysrsd.toml")]
    command += ["--forward-port", "0", "--reverse-port", "0", *flags]
    command += ["--allow-root"] if os.geteuid() == 0 else []
    with running(tmp_path, command, host_free_environment(**(env or {}))) as daemon:
        yield daemon


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return write_secrets(tmp_path / "secrets", SECRET)


def mint(address: bytes, domain: str, days_ago: int = 0) -> bytes:
    now = time.time() - days_ago * 86400
    made = Engine([SECRET.encode()], domain.encode(), clock=lambda: now).forward(address)
    assert isinstance(made, Rewritten)
    return made.address


# -- SIGHUP applies the configuration --------------------------------------------------------
def test_sighup_applies_the_domain_and_hash_settings(tmp_path: Path, secrets: Path) -> None:
    """postsrsd 2.4's own reload test: the SRS domain changes, SIGHUP, the new one is used.
    Bounces to the old domain's addresses are foreign from then on, as after a restart, until
    reverse-any-domain is turned on for them."""
    config = toml(tmp_path / "pysrsd.toml", secrets, domain=OLD)
    with configured(tmp_path) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            old = fwd.get(b"alice@example.com")[4:-1]
            assert old.startswith(b"SRS0=") and old.endswith(b"@old.example")
            toml(config, secrets, domain=NEW, separator="+", hash_length=6)
            line = sighup(daemon)
            new = fwd.get(b"alice@example.com")[4:-1]
            assert new.startswith(b"SRS0+") and new.endswith(b"@new.example")
            assert len(new.split(b"=")[0]) == len(b"SRS0+") + 6  # the hash
            assert rev.get(new) == b"200 alice@example.com\n"
            assert rev.get(old) == b"500 SRS%20address%20of%20another%20domain\n"
            toml(config, secrets, domain=NEW, separator="+", hash_length=6, reverse_any_domain=True)
            sighup(daemon)
            assert rev.get(old) == b"200 alice@example.com\n"
        changed = events(daemon, "domain_changed")
    assert "reloaded='configuration, secrets, exclusions'" in line
    assert "changed='domain, separator, hash-length'" in line and "level='info'" in line
    assert (
        len(changed) == 1 and "level='warning'" in changed[0] and "reverse-any-domain" in changed[0]
    )


def test_the_command_line_and_environment_still_win_over_the_file(
    tmp_path: Path, secrets: Path
) -> None:
    config = toml(tmp_path / "pysrsd.toml", secrets, domain=OLD, max_age=30, separator="-")
    ten_days = mint(b"bob@example.com", OLD, days_ago=10)
    with configured(tmp_path, "--max-age", "30", env={"PYSRSD_SEPARATOR": "+"}) as daemon:
        toml(config, secrets, domain=OLD, max_age=5, separator="=", always_rewrite=True)
        sighup(daemon)
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            assert rev.get(ten_days) == b"200 bob@example.com\n"  # --max-age 30, not 5
            assert fwd.get(b"carol@example.com").startswith(b"200 SRS0+")  # the variable's
            assert fwd.get(b"dave@old.example").startswith(b"200 SRS0+")  # the file's


def test_logs_and_limits_follow_and_a_restart_is_named(tmp_path: Path, secrets: Path) -> None:
    config = toml(tmp_path / "pysrsd.toml", secrets, domain=OLD)
    with configured(tmp_path) as daemon:
        changes = {"listen": ["127.0.0.2"], "log_level": "debug", "log_format": "json"}
        limits = {"max_connections": 2, "max_line": 256, "idle_timeout": 0.5}
        toml(config, secrets, domain=OLD, **limits, **changes)
        line = sighup(daemon)  # the reload's own line is in the format it began with
        with Client(daemon.reverse_port) as rev:
            assert rev.get(b"erin@example.com") == b"500 not%20an%20SRS%20address\n"
        assert eventually(lambda: '"event": "not_found"' in daemon.log_text())  # at debug
        oldest = Client(daemon.forward_port)
        assert oldest.get(b"a@example.com").startswith(b"200 ")
        with Client(daemon.forward_port) as second, Client(daemon.forward_port) as third:
            assert second.get(b"b@example.com").startswith(b"200 ")
            assert third.get(b"c@example.com").startswith(b"200 ")  # evicts the oldest
            oldest.sock.settimeout(TIMEOUT)
            assert oldest.reader.readline() == b""
        oldest.close()
        with Client(daemon.forward_port, timeout=TIMEOUT) as idle:
            long_key = b"a" * 300 + b"@example.com"
            assert idle.get(long_key) == b"500 request%20too%20long\n"  # max-line 256
            assert idle.reader.readline() == b""  # closed after half a second idle
    assert "level='warning'" in line and "restart_needed='listen'" in line
    changed = "changed='idle-timeout, max-connections, max-line, log-level, log-format'"
    assert changed in line


def test_a_bad_configuration_changes_nothing(tmp_path: Path, secrets: Path) -> None:
    config = toml(tmp_path / "pysrsd.toml", secrets, domain=OLD)
    with configured(tmp_path) as daemon, Client(daemon.forward_port) as fwd:
        before = fwd.get(b"frank@example.com")
        config.write_text(config.read_text().replace(OLD, NEW) + "max-age = 0\n")
        line = sighup(daemon, event="reload_failed")
        assert fwd.get(b"frank@example.com") == before  # not the new domain either
        toml(config, secrets, domain=NEW)
        sighup(daemon)
        assert fwd.get(b"frank@example.com").endswith(b"@new.example\n")
    assert "level='error'" in line and f"{config}:3: max-age" in line
    assert "kept='previous configuration, secrets, exclusions'" in line


# -- the secrets file edited under the daemon ------------------------------------------------
def test_a_half_written_secrets_file_is_never_used(tmp_path: Path, secrets: Path) -> None:
    """Truncated and given a 12-byte fragment, it was the only secret for a second or more:
    bounces to earlier addresses were refused, and addresses minted then never verified."""
    toml(tmp_path / "pysrsd.toml", secrets, domain=OLD)
    with configured(tmp_path) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            minted = fwd.get(b"gina@example.com")[4:-1]
            with secrets.open("r+") as handle:
                handle.truncate()
                handle.write("half-writte")
            assert eventually(lambda: "why='file changed'" in daemon.log_text())
            assert rev.get(minted) == b"200 gina@example.com\n"
            assert fwd.get(b"gina@example.com")[4:-1] == minted
            write_secrets(secrets, "new signing secret", SECRET)  # the rotation, finished
            assert eventually(lambda: fwd.get(b"gina@example.com")[4:-1] != minted)
            assert rev.get(minted) == b"200 gina@example.com\n"
    refused = [line for line in events(daemon, "reload_failed") if "file changed" in line]
    assert refused and "keeps none of the 1 secrets in use" in refused[0]
    assert "send SIGHUP" in refused[0] and SECRET not in daemon.log_text()


def test_a_replaced_secrets_file_waits_for_sighup(tmp_path: Path, secrets: Path) -> None:
    toml(tmp_path / "pysrsd.toml", secrets, domain=OLD)
    with configured(tmp_path) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            minted = fwd.get(b"hugo@example.com")[4:-1]
            replacement = write_secrets(tmp_path / "secrets.new", "a wholly new secret")
            os.replace(replacement, secrets)
            assert eventually(lambda: "why='file changed'" in daemon.log_text())
            assert rev.get(minted) == b"200 hugo@example.com\n"  # kept
            sighup(daemon)
            assert fwd.get(b"hugo@example.com")[4:-1] != minted
            assert rev.get(minted) == b"500 bad%20hash\n"
    (warning,) = events(daemon, "secrets_replaced")
    assert "level='warning'" in warning and "previous_secrets=1" in warning
