"""``python -m reliability --short | --full [--only NAME ...]``: run the scenarios against the
real daemon on loopback, print one row per scenario, exit 1 if any scenario had a failure or a
wrong answer where the contract promises an answer.

--short is what CI runs (about 3 minutes on 2 cores); --full adds volume and the
1,000,000-lookup soak (about 6 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from reliability.daemon import raise_client_nofile
from reliability.floods import newline_flood, pipeline_flood
from reliability.half_written import half_written_secrets
from reliability.metrics_check import metrics_under_load, slow_scrapers
from reliability.scenarios import ALL, Result, Size

HEADER = "| scenario | lookups | failures | wrong | peak RSS | max fds | time | notes |"


def row(r: Result) -> str:
    t = r.tally
    rss = f"{r.peak_rss_kb / 1024:.1f} MiB"
    notes = "; ".join(r.notes + t.examples)
    return (
        f"| {r.name} | {t.lookups:,} | {t.failures} | {t.wrong} | {rss} | {r.max_fds} "
        f"| {r.seconds:.1f} s | {notes} |"
    )


async def main_async(size: Size, only: list[str]) -> list[Result]:
    results = []
    for scenario in [
        *ALL,
        newline_flood,
        pipeline_flood,
        metrics_under_load,
        slow_scrapers,
        half_written_secrets,
    ]:
        if only and scenario.__name__ not in only:
            continue
        print(f"-- {scenario.__name__} ...", file=sys.stderr, flush=True)
        result = await scenario(size)
        print(row(result), file=sys.stderr, flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--short", action="store_true", help="CI setting (about 3 minutes)")
    mode.add_argument("--full", action="store_true", help="volume and the 1M-lookup soak")
    parser.add_argument("--only", nargs="*", default=[], help="scenario function names")
    args = parser.parse_args(argv)
    nofile = raise_client_nofile()
    started = time.monotonic()
    results = asyncio.run(main_async(Size(full=args.full), args.only))
    print(
        f"\n{'full' if args.full else 'short'} run, client RLIMIT_NOFILE {nofile}, "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print(HEADER)
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(row(r))
    bad = [r.name for r in results if not r.ok]
    if bad:
        print(f"\nFAILED: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
