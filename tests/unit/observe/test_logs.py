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


@pytest.mark.parametrize(("level", "fmt"), [("info", "kv"), ("info", "json"), ("debug", "json")])
def test_the_health_probe_is_a_debug_line_and_only_it(level: str, fmt: str) -> None:
    """pysrsctl health's exact address, forward or reversed to it: debug ``probe`` lines;
    the same address in another case is a rewrite like any other."""
    program = f"""
import io
from pysrsd.observe import logs
out = io.StringIO()
logs.configure({level!r}, {fmt!r}, stream=out)
logs.rewrite("forward", logs.PROBE, "SRS0=x@fwd.example")
logs.rewrite("reverse", "SRS0=x@fwd.example", logs.PROBE)
logs.rewrite("forward", logs.PROBE.upper(), "SRS0=y@fwd.example")
print(out.getvalue(), end="")
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    probes = [line for line in lines if "probe" in line and "PROBE" not in line]
    assert len(probes) == (2 if level == "debug" else 0), lines
    assert all('"level": "debug"' in line for line in probes)
    assert [line for line in lines if line not in probes] == [
        line for line in lines if "PYSRSD-HEALTH-PROBE" in line and "rewrite" in line
    ]
    assert len(lines) - len(probes) == 1


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


@pytest.mark.parametrize(
    "now_ns",
    [
        pytest.param(1_717_243_200_000_000_000, id="whole-second"),
        pytest.param(1_717_243_200_000_001_999, id="one-microsecond"),
        pytest.param(1_717_243_259_999_999_000, id="last-microsecond"),
    ],
)
def test_rewrite_line_timestamp_is_structlogs(now_ns: int) -> None:
    """The same line to the character, timestamp included, at a fixed clock: no fraction on
    a whole second, six digits otherwise, as structlog's TimeStamper writes them."""
    program = f"""
import io, time, structlog
time.time_ns = lambda: {now_ns}
from pysrsd.observe import logs
out = io.StringIO()
logs.configure("info", "kv", stream=out)
logs.rewrite("forward", "a@b", "c@d")
structlog.get_logger("pysrsd.lookup").info("rewrite", table="forward", address="a@b", result="c@d")
print(out.getvalue(), end="")
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    fast, general = result.stdout.splitlines()
    assert fast == general
    assert fast.startswith("ts='2024-06-01T12:0")
