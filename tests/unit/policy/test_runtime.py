"""Reloads: a whole new State or none, a file read only once it is still, a secrets file that
keeps none of the secrets in use taken only when asked for, and a changed configuration
applied where no new socket is needed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import write_secrets

from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.policy import tables
from pysrsd.policy.runtime import Runtime
from pysrsd.wire.lookup import Status, Table

SECRET = "runtime unit secret, long enough"
OTHER = "another secret, long enough too"


@pytest.fixture
def settings(tmp_path: Path, hermetic_settings: None) -> Settings:
    return Settings(domain="fwd.example", secrets_file=write_secrets(tmp_path / "secrets", SECRET))


def forward(runtime: Runtime, key: bytes = b"alice@example.com") -> bytes:
    answer = tables.ask(runtime.state, Table.FORWARD, key)
    assert answer.status is Status.FOUND
    return answer.text


def reverse(runtime: Runtime, address: bytes) -> bytes | None:
    answer = tables.ask(runtime.state, Table.REVERSE, address)
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


# -- SIGHUP: the configuration ----------------------------------------------------------------
def reread(settings: Settings, **changes: object) -> Callable[[], Settings]:
    return lambda: settings.model_copy(update=changes)


def test_a_changed_configuration_is_applied_through_a_new_state(settings: Settings) -> None:
    runtime = Runtime(settings, reread=reread(settings, domain="new.example", hash_length=6))
    before = runtime.state
    assert runtime.reload()
    assert runtime.state is not before
    assert runtime.settings.domain == "new.example"
    assert forward(runtime).startswith(b"SRS0=") and forward(runtime).endswith(b"@new.example")
    assert len(forward(runtime).split(b"=")[1]) == 6


def test_a_setting_that_needs_a_restart_keeps_its_value(settings: Settings) -> None:
    wanted = reread(settings, listen=["127.0.0.2"], forward_port=20001, max_age=30)
    runtime = Runtime(settings, reread=wanted)
    assert runtime.reload()
    assert runtime.settings.listen == settings.listen
    assert runtime.settings.forward_port == settings.forward_port
    assert runtime.settings.max_age == 30


def test_a_database_mode_needs_the_database_opened_at_start(settings: Settings) -> None:
    runtime = Runtime(settings, reread=reread(settings, original_envelope="auto"))
    assert runtime.reload()
    assert runtime.settings.original_envelope == "embedded"
    assert runtime.envelopes is None and runtime.state.envelopes is None


def test_a_bad_configuration_changes_nothing(settings: Settings) -> None:
    def broken() -> Settings:
        raise ConfigError("/etc/pysrsd/pysrsd.toml:3: max-age: Input should be at least 1")

    runtime = Runtime(settings, reread=broken)
    before = runtime.state
    write_secrets(settings.secrets_file, OTHER, SECRET)  # not taken either: nothing half-done
    assert not runtime.reload()
    assert runtime.state is before
    assert runtime.settings is settings
    assert (runtime.reloads_ok, runtime.reloads_failed) == (0, 1)
