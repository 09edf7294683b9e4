"""The rewrite log line (one per rewrite): its short path writes what structlog would."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

ADDRESSES = [
    ("forward", "alice@example.com", "SRS0=HHHH=TT=example.com=alice@fwd.example"),
    ("reverse", "o'neil\"x\\y@exämple.com", "\\xff\\t@h"),
]
_TS = re.compile(r"""(ts=|"ts": )['"][0-9T:.Z-]+['"]""")


def _lines(level: str, fmt: str, journal: bool, fast: bool) -> list[str]:
    """Log ``ADDRESSES`` in a fresh process (structlog caches loggers), return its lines."""
    call = (
        "logs.rewrite(t, a, r)"
        if fast
        else 'structlog.get_logger("pysrsd.lookup").info("rewrite", table=t, address=a, result=r)'
    )
    program = f"""
import io, structlog
from pysrsd.observe import logs
out = io.StringIO()
logs.configure({level!r}, {fmt!r}, journal={journal!r}, stream=out)
for t, a, r in {ADDRESSES!r}:
    {call}
print(out.getvalue(), end="")
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    return [_TS.sub(r"\1<ts>", line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("level", "fmt", "journal"),
    [("info", "kv", False), ("info", "kv", True), ("debug", "json", False), ("info", "json", True)],
)
def test_rewrite_line_is_structlogs(level: str, fmt: str, journal: bool) -> None:
    fast = _lines(level, fmt, journal, fast=True)
    assert len(fast) == len(ADDRESSES)
    assert fast == _lines(level, fmt, journal, fast=False)


def test_rewrite_kv_line_shape() -> None:
    first = _lines("info", "kv", True, fast=True)[0]
    assert first == (
        "<6>ts=<ts> level='info' event='rewrite' table='forward' "
        "address='alice@example.com' result='SRS0=HHHH=TT=example.com=alice@fwd.example'"
    )


def test_no_rewrite_line_above_info() -> None:
    assert _lines("warning", "kv", False, fast=True) == []


def test_a_second_configure_reaches_loggers_already_used() -> None:
    """A reload that changes the level or the format: structlog had cached the first
    configuration in every logger used before, so nothing changed for them."""
    program = """
import io, structlog
from pysrsd.observe import logs
out = io.StringIO()
log = structlog.get_logger("pysrsd.test")
logs.configure("info", "kv", stream=out)
log.debug("hidden")
log.info("first")
logs.configure("debug", "json", stream=out)
log.debug("second")
logs.configure("warning", "kv", stream=out)
log.info("hidden")
log.warning("third")
print(out.getvalue(), end="")
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    lines = [_TS.sub(r"\1<ts>", line) for line in result.stdout.splitlines()]
    assert lines == [
        "ts=<ts> level='info' event='first'",
        '{"event": "second", "level": "debug", "ts": <ts>}',
        "ts=<ts> level='warning' event='third'",
    ]
