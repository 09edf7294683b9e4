"""Reloads: a file read only once it is still, and a secrets file that keeps none of the
secrets in use taken only when asked for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import write_secrets

from pysrsd.config.settings import Settings
from pysrsd.policy import tables
from pysrsd.policy.runtime import Runtime
from pysrsd.wire.lookup import Status, Table

SECRET = "runtime unit secret, long enough"
OTHER = "another secret, long enough too"


@pytest.fixture
def settings(tmp_path: Path, hermetic_settings: None) -> Settings:
    return Settings(domain="fwd.example", secrets_file=write_secrets(tmp_path / "secrets", SECRET))


def forward(runtime: Runtime, key: bytes = b"alice@example.com") -> bytes:
    answer = tables.settle(tables.lookup(runtime.state, Table.FORWARD, key))
    assert answer.status is Status.FOUND
    return answer.text


def reverse(runtime: Runtime, address: bytes) -> bytes | None:
    answer = tables.settle(tables.lookup(runtime.state, Table.REVERSE, address))
    return answer.text if answer.status is Status.FOUND else None


def edit_in_place(path: Path, data: bytes) -> None:
    with path.open("r+b") as handle:
        handle.truncate()
        handle.write(data)
    os.utime(path)  # a later modification time, whatever the file system's clock granularity


# -- the watcher ------------------------------------------------------------------------------
def test_a_file_still_being_written_is_not_read(settings: Settings) -> None:
    """It was read at the first look after any change: an editor's half-written file became
    the only secret for a second."""
    runtime = Runtime(settings)
    minted = forward(runtime)
    edit_in_place(settings.secrets_file, b"new signing")  # the first bytes of a rotation
    assert not runtime.check_files()  # changed since the last look: maybe still being written
    edit_in_place(settings.secrets_file, f"new signing secret\n{SECRET}\n".encode())
    assert not runtime.check_files()
    assert forward(runtime) == minted
    assert runtime.check_files()  # as it was at the previous look: taken
    assert forward(runtime) != minted
    assert reverse(runtime, minted) == b"alice@example.com"
    assert runtime.reloads_ok == 1 and runtime.reloads_failed == 0


def test_the_watcher_keeps_the_secrets_when_none_would_stay(settings: Settings) -> None:
    """A 12-byte fragment left by a truncating edit used to become the only secret: every
    bounce to an address minted before was refused, and those minted meanwhile were lost."""
    runtime = Runtime(settings)
    minted = forward(runtime)
    edit_in_place(settings.secrets_file, b"half-writte\n")
    assert not runtime.check_files()
    assert runtime.check_files()  # still: looked at, and refused
    assert forward(runtime) == minted
    assert reverse(runtime, minted) == b"alice@example.com"
    assert (runtime.reloads_ok, runtime.reloads_failed, runtime.last_reload_ok) == (0, 1, False)
    assert not runtime.check_files() and runtime.reloads_failed == 1  # said once, not each second


def test_a_replacement_is_taken_when_asked_for(settings: Settings) -> None:
    runtime = Runtime(settings)
    minted = forward(runtime)
    write_secrets(settings.secrets_file, OTHER)  # a leaked secret: replaced on purpose
    assert runtime.reload()  # SIGHUP
    assert forward(runtime) != minted
    assert reverse(runtime, minted) is None
