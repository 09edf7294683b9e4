"""Scenario: the secrets file edited in place, left half-written, beside a checked load.

Again and again, without a signal: the file is truncated and given a 12-byte fragment, which
stays for 2.5 s (the daemon looks each second, so two looks in a row find the fragment: it is
judged, not just seen changing), then the whole file is written back in place. The daemon used
to take the fragment as its only secret: forward answers were signed with it, and bounces to
addresses signed with the real secret were refused. Now a changed file is read only once it is
still, and never when it keeps none of the secrets in use: every answer of the load must stay
the oracle's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from reliability.client import Load, Tally
from reliability.daemon import SECRET, Daemon
from reliability.scenarios import Result, Size, _observe

FRAGMENT = SECRET[:12]
HALF_WRITTEN = 2.5  # seconds the fragment stays: two looks of the daemon's at least
WHOLE = 1.2  # seconds the whole file stays before the next edit


def _write_in_place(path: Path, data: bytes) -> None:
    with path.open("r+b") as handle:  # same inode: what an editor or `echo >` does
        handle.truncate()
        handle.write(data)


async def half_written_secrets(size: Size) -> Result:
    daemon = Daemon().start()
    try:

        async def body(tally: Tally) -> None:
            edits = size.pick(4, 12)
            load = Load(daemon.ports, connections=10, depth=10, total=10**9)
            load.seconds, load.tally = edits * (HALF_WRITTEN + WHOLE), tally
            running = asyncio.create_task(load.run())
            for _ in range(edits):
                _write_in_place(daemon.secrets, FRAGMENT)
                await asyncio.sleep(HALF_WRITTEN)
                _write_in_place(daemon.secrets, SECRET + b"\n")
                await asyncio.sleep(WHOLE)
            await running
            refused = daemon.log_count("keeps none of the")
            reloaded = daemon.log_count("event='reloaded'")
            tally.notes = [
                f"{edits} fragments left for {HALF_WRITTEN} s each: {refused} refused by the "
                f"watcher (secret kept); {reloaded} reloads of the whole file written back"
            ]
            if refused < edits:
                tally.wrong += edits - refused
                tally.notes.append(f"only {refused} of {edits} fragments refused")

        return await _observe(daemon, "half-written secrets file", body)
    finally:
        daemon.stop()
