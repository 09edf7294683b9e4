"""SIGHUP storms: one reload per gap, and a reload after every signal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from harness import write_secrets

from pysrsd.config.settings import Settings
from pysrsd.policy.runtime import Runtime
from pysrsd.service.reloads import GAP, Reloads


def test_a_storm_of_signals_is_taken_by_two_reloads(
    tmp_path: Path, hermetic_settings: None
) -> None:
    """A reload reads and validates the config file (milliseconds): one per signal, a SIGHUP
    a millisecond kept the event loop busy reloading."""
    secrets = write_secrets(tmp_path / "secrets", "reloads unit secret, long enough")
    runtime = Runtime(Settings(domain="fwd.example", secrets_file=secrets))
    applied: list[Settings] = []

    async def storm() -> None:
        reloads = Reloads(runtime, applied.append)
        for _ in range(50):
            reloads.signalled()
        write_secrets(secrets, "a rotated secret, long enough", "reloads unit secret, long enough")
        await asyncio.sleep(3 * GAP)  # the second reload is due GAP after the first

    asyncio.run(storm())
    assert len(applied) == 2  # at once, then once for all the signals after the first
    assert runtime.reloads_ok == 2
    assert len(runtime.state.keyring) == 2  # the last reload came after the last change


@pytest.mark.parametrize("quiet", [0.0, 2 * GAP])
def test_a_signal_after_a_quiet_spell_reloads_at_once(
    tmp_path: Path, hermetic_settings: None, quiet: float
) -> None:
    secrets = write_secrets(tmp_path / "secrets", "reloads unit secret, long enough")
    runtime = Runtime(Settings(domain="fwd.example", secrets_file=secrets))
    applied: list[Settings] = []

    async def two_signals() -> None:
        reloads = Reloads(runtime, applied.append)
        reloads.signalled()
        await asyncio.sleep(quiet)
        reloads.signalled()
        if quiet:
            assert len(applied) == 2  # no wait
        await asyncio.sleep(3 * GAP)

    asyncio.run(two_signals())
    assert len(applied) == 2
