"""Black-box reloads: the real daemon, its secrets file edited under it."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import SECRET, Client, Daemon, running, write_secrets

from pysrsd.srs.engine import Engine, Rewritten

OLD, NEW = "old.example", "new.example"
TIMEOUT = 15.0


def eventually(predicate: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


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
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("PYSRSD_")}
    with running(tmp_path, command, {**environment, **(env or {})}) as daemon:
        yield daemon


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return write_secrets(tmp_path / "secrets", SECRET)


def mint(address: bytes, domain: str, days_ago: int = 0) -> bytes:
    now = time.time() - days_ago * 86400
    made = Engine([SECRET.encode()], domain.encode(), clock=lambda: now).forward(address)
    assert isinstance(made, Rewritten)
    return made.address


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
