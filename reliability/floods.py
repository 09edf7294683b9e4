"""Scenarios: one local client floods the daemon on 1,000 connections and never reads a reply.

``newline_flood``: each connection sends 200 KB of newlines (200,000 malformed requests, each
owed a ~25-byte reply). ``pipeline_flood``: each sends 200 KB of valid forward lookups
pipelined (Postfix never pipelines: it reads each reply before it asks again). Both run beside
Postfix-like clients: a fresh connection every 0.2 s (``reliability.probe``, as a newly
started Postfix process) and persistent connections, opened a second before the attack,
asking one lookup at a time. Every answer
is checked; a lookup that Postfix would give up on (no answer within its 10 s timeout) or a
400 is a failure. Figures: the worst latency of a well-behaved lookup during the attack, and
the daemon's CPU seconds from the start of the attack until it is over (all 1,000
connections closed or stalled).
"""

from __future__ import annotations

import asyncio
import sys

from reliability.client import Load, Tally
from reliability.daemon import Daemon
from reliability.scenarios import Result, Size, _fresh_clients, _observe

CONNECTIONS = 1000
BYTES = 200_000


async def newline_flood(size: Size) -> Result:
    return await _flood("newline flood (1,000 x 200 KB, never read)", "\\n", size)


async def pipeline_flood(size: Size) -> Result:
    return await _flood(
        "pipelined flood (1,000 x 200 KB, never read)", "get flood@example.com\\n", size
    )


async def _flood(name: str, pattern: str, size: Size) -> Result:
    daemon = Daemon().start()
    try:

        async def body(tally: Tally) -> None:
            await _attack(daemon, tally, pattern, size)

        return await _observe(daemon, name, body)
    finally:
        daemon.stop()


async def _attack(daemon: Daemon, tally: Tally, pattern: str, size: Size) -> None:
    seconds = size.pick(8, 30)
    stop = asyncio.Event()
    fresh = asyncio.create_task(_fresh_clients(daemon.ports, tally, stop))
    load = Load(daemon.ports, connections=4, think=0.05, total=10**9, seconds=seconds)
    load.tally = tally
    running = asyncio.create_task(load.run())
    await asyncio.sleep(1.0)  # Postfix's connections are open before the attack starts
    cpu = daemon.cpu_seconds()
    flooder = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reliability.flooder", str(daemon.ports["forward"]),
        str(CONNECTIONS), str(BYTES), pattern,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await running
    attack_cpu = daemon.cpu_seconds() - cpu
    out, _ = await flooder.communicate(b"")
    connected, sent = (int(x) for x in out.split())
    stop.set()
    worst_fresh = await fresh
    tally.notes = [
        f"{connected} flood connections, {sent / 1e6:.0f} MB sent or refused in {seconds} s; "
        f"daemon CPU {attack_cpu:.1f} s; worst lookup: fresh client {worst_fresh * 1000:.0f} ms, "
        f"persistent {tally.max_latency * 1000:.0f} ms; reconnects {tally.reconnects}"
    ]
