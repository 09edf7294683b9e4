"""benchmarks/envelopes.py checks what it measures: its answer checker refuses wrong, missing,
extra and out-of-order answers, and short runs of both commands against the real daemon and
Postfix's postmap report every answer correct (the figures themselves are docs/envelopes.md's)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from harness import require

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # for its own "import servers"
    spec = importlib.util.spec_from_file_location("bench_envelopes", BENCH / "envelopes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def tally(
    bench: ModuleType, lines: list[bytes], pairs: list[tuple[bytes, bytes]], mode: str
) -> Any:
    result = bench.Tally()
    bench.check(lines, pairs, mode, result)
    return result


def test_checker_refuses_every_kind_of_wrong_answer(bench: ModuleType) -> None:
    short = b"alice@example.com"
    long = bench.sender("t", 0, 4)
    assert bench.stored("auto", long) and not bench.stored("auto", short)
    key = bench.alias(long)[:-2]
    good_short = short + b"\tSRS0=AbC_=JQ=example.com=alice@" + bench.DOMAIN_B + b"\n"
    good_long = long + b"\tSRS0=x-9Z=JQ=1=" + key + b"@" + bench.DOMAIN_B + b"\n"
    pairs = [(short, short), (long, long)]
    assert tally(bench, [good_short, good_long], pairs, "auto").wrong == []
    assert tally(bench, [good_short, good_long], pairs, "auto").good == 2
    wrong = [
        [good_short],  # missing
        [good_short, good_long, good_long],  # extra
        [good_long, good_short],  # out of order
        [good_short, good_long.replace(b"=1=", b"=2=")],  # another alias
        [good_short.replace(b"example.com=", b"example.org="), good_long],  # another host
        [good_short.replace(b"AbC_", b"AbC!"), good_long],  # not a hash
        [good_short.replace(b"SRS0", b"SRS1"), good_long],
        [good_short.replace(bench.DOMAIN_B, b"other.example"), good_long],
    ]
    for lines in wrong:
        assert tally(bench, lines, pairs, "auto").wrong, lines
    # embedded mode must not answer the database form, database mode not the embedded one
    assert tally(bench, [good_short, good_long], pairs, "embedded").wrong
    assert tally(bench, [good_short, good_long], pairs, "database").wrong
    minted = b"SRS0=AbC_=JQ=example.com=alice@" + bench.DOMAIN_B
    assert tally(bench, [minted + b"\t" + short + b"\n"], [(minted, short)], "reverse").good == 1
    wrong_back = [minted + b"\tbob@example.com\n"]
    assert tally(bench, wrong_back, [(minted, short)], "reverse").wrong


def run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / "envelopes.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrong or missing" in result.stdout and ", 0 wrong or missing" in result.stdout
    return result.stdout


def configs(*names: str) -> str:
    with_redis = shutil.which("redis-server") is not None
    return ",".join(n for n in names if with_redis or "redis" not in n)


def test_throughput_short_run_answers_all_correct() -> None:
    require("postmap")
    names = configs("embedded", "database-sqlite", "database-redis", "auto-sqlite")
    out = run("throughput", "--quick", "--total", "400", "--clients", "4", "--configs", names)
    for name in names.split(","):
        assert f"| forward | {name} |" in out and f"| reverse | {name} |" in out


def test_growth_short_run_purges_every_expired_row() -> None:
    require("postmap", "faketime")
    names = configs("database-sqlite", "auto-sqlite", "database-redis")
    out = run(
        "growth", "--senders", "800", "--clients", "4", "--idle-probe", "0.5", "--configs", names
    )
    assert "| database-sqlite | 1 after batch A | 801 | 0 |" in out  # and the start probe's
    assert "| database-sqlite | 2 expired, purged | 0 | 0 |" in out
    assert "| database-sqlite | 3 after batch B | 800 | 0 |" in out
    assert "| auto-sqlite | 2 expired, purged | 0 | 0 |" in out
