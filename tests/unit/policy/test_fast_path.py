"""The fast path (``policy.fast``) is a cache of the general path (``tables.lookup``): for
every request and setting, a connection with it writes the same replies, logs the same lines
and counts the same metrics as one without it. The property is ``fast_equivalence.py``'s,
run in a fresh process per log level and format (structlog caches its loggers); that it
catches a fast path that differs is shown by breaking the fast path on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fast_equivalence import MUTANTS
from harness import write_secrets

from pysrsd.config.settings import Settings
from pysrsd.policy.runtime import Runtime
from pysrsd.wire.lookup import Table

PROPERTY = Path(__file__).resolve().parent / "fast_equivalence.py"
SRC = Path(__file__).resolve().parents[3] / "src"
EXAMPLES = 600


def _run(level: str, fmt: str, mutant: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(PROPERTY), level, fmt, str(EXAMPLES)]
    return subprocess.run(
        [*command, *([mutant] if mutant else [])],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.parametrize(("level", "fmt"), [("info", "kv"), ("debug", "kv"), ("info", "json")])
def test_fast_path_answers_logs_and_counts_as_the_general_path(level: str, fmt: str) -> None:
    result = _run(level, fmt)
    assert result.returncode == 0, result.stdout + result.stderr[-6000:]


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_property_catches_a_fast_path_that_differs(mutant: str) -> None:
    result = _run("debug", "kv", mutant)
    assert result.returncode != 0
    # Hypothesis's report: "Falsifying example:", "Failing test case:" in recent versions
    assert "Falsifying example" in result.stderr or "Failing test case" in result.stderr


def test_a_reload_builds_the_fast_path_anew(tmp_path: Path) -> None:
    """A secret put on top by a reload signs on the fast path at once, and an address signed
    with the secret it replaces still reverses there."""
    secrets = write_secrets(tmp_path / "secrets", "the-first-secret-0123456789")
    runtime = Runtime(Settings(domain="fwd.example", secrets_file=secrets))
    before = runtime.state.fast
    assert before is not None
    old = before.forward(Table.FORWARD, b"alice@example.com")
    assert isinstance(old, bytes)
    write_secrets(secrets, "the-second-secret-0123456789", "the-first-secret-0123456789")
    assert runtime.reload("test")
    after = runtime.state.fast
    assert after is not None and after is not before
    new = after.forward(Table.FORWARD, b"alice@example.com")
    assert isinstance(new, bytes) and new != old
    assert runtime.state.engine.reverse(new) == runtime.state.engine.reverse(old)
    assert after.reverse(Table.REVERSE, old) == after.reverse(Table.REVERSE, new)
    assert after.reverse(Table.REVERSE, new) == b"alice@example.com"


def test_a_database_mode_hands_every_sender_to_the_general_path(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", "a-secret-for-the-database-mode")
    settings = Settings(
        domain="fwd.example",
        secrets_file=secrets,
        original_envelope="database",
        envelope_database=f"sqlite:{tmp_path / 'envelopes.sqlite'}",
    )
    fast = Runtime(settings).state.fast
    assert fast is not None
    assert fast.forward(Table.FORWARD, b"alice@example.com") is None
