"""Loopback tcp_table clients that behave like Postfix's dict_tcp, and a bounded load runner.

dict_tcp semantics copied here: a request whose connection breaks before the reply arrives is
sent again on a new connection (up to ``MAX_TRIES`` attempts, pausing between them); a reply
slower than ``TIMEOUT`` seconds counts as a failure of that attempt. A lookup is a *failure*
if no attempt is answered or the answer is a 400; it is *wrong* if the answer is not the one
the oracle expects.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from reliability.oracle import Probe, parse_reply, probes, quote

MAX_TRIES = 10
RETRY_PAUSE = 0.2
TIMEOUT = 10.0  # Postfix dict_tcp's I/O timeout


@dataclass
class Tally:
    lookups: int = 0
    failures: int = 0
    wrong: int = 0
    reconnects: int = 0
    max_latency: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)  # right answers by probe kind
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def wrong_answer(self, probe: Probe, line: bytes) -> None:
        self.wrong += 1
        if len(self.examples) < 5:
            self.examples.append(f"{probe.table} {probe.key!r} ({probe.kind}) -> {line!r}")

    def merge(self, other: Tally) -> None:
        self.lookups += other.lookups
        self.failures += other.failures
        self.wrong += other.wrong
        self.reconnects += other.reconnects
        self.max_latency = max(self.max_latency, other.max_latency)
        self.kinds.update(other.kinds)
        self.examples.extend(other.examples[: 5 - len(self.examples)])


class TableClient:
    """One persistent connection to one table; reconnects like dict_tcp."""

    def __init__(self, port: int, tally: Tally) -> None:
        self.port = port
        self.tally = tally
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20), TIMEOUT
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None

    async def ask(self, batch: list[Probe]) -> None:
        """Send ``batch`` pipelined; verify each reply; resend the unanswered on breakage."""
        pending = list(batch)
        started = time.monotonic()
        for attempt in range(MAX_TRIES):
            if attempt:
                self.tally.reconnects += 1
                await asyncio.sleep(RETRY_PAUSE)
            try:
                if self.writer is None:
                    await self._connect()
                pending = await self._exchange(pending)
            except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError):
                self.close()
                continue
            if not pending:
                break
            self.close()
        self.tally.failures += len(pending)
        latency = time.monotonic() - started
        self.tally.max_latency = max(self.tally.max_latency, latency)

    async def _exchange(self, pending: list[Probe]) -> list[Probe]:
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(b"".join(b"get " + quote(p.key) + b"\n" for p in pending))
        while pending:
            line = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
            if not line.endswith(b"\n"):
                raise EOFError  # closed (before or in the middle of a reply): resend
            probe = pending.pop(0)
            reply = parse_reply(line[:-1])
            if reply[0] == 400:
                self.tally.failures += 1  # "defer the mail": never acceptable here
            elif probe.check(reply):
                self.tally.lookups += 1
                self.tally.kinds[probe.kind] += 1
            else:
                self.tally.wrong_answer(probe, line)
        return pending


@dataclass
class Load:
    """A bounded, self-stopping load: ``connections`` workers (one forward and one reverse
    connection each) sending batches of ``depth`` pipelined lookups until ``total`` lookups
    are answered or ``seconds`` have passed, whichever comes first."""

    ports: dict[str, int]
    connections: int
    depth: int = 1
    total: int = 10_000
    seconds: float = 60.0
    seed: int = 1
    think: float = 0.0  # pause between batches (Postfix-like pacing)
    strict_exclusions: bool = True
    tally: Tally = field(default_factory=Tally)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, on_progress: Callable[[], None] | None = None) -> Tally:
        deadline = time.monotonic() + self.seconds
        now = time.time()
        workers = [
            asyncio.create_task(self._worker(random.Random(self.seed * 7919 + i), now, deadline))
            for i in range(self.connections)
        ]
        while not all(w.done() for w in workers):
            await asyncio.sleep(0.5)
            if on_progress is not None:
                on_progress()
        for w in workers:
            w.result()
        return self.tally

    def _done(self, deadline: float) -> bool:
        return (
            self.stop.is_set()
            or self.tally.lookups + self.tally.failures + self.tally.wrong >= self.total
            or time.monotonic() >= deadline
        )

    async def _worker(self, rng: random.Random, now: float, deadline: float) -> None:
        make = probes(rng, now, self.strict_exclusions)
        clients = {t: TableClient(self.ports[t], self.tally) for t in ("forward", "reverse")}
        await asyncio.sleep(rng.random() * min(1.0, self.connections / 1000))  # stagger
        try:
            while not self._done(deadline):
                batch = [make() for _ in range(self.depth)]
                for table, client in clients.items():
                    part = [p for p in batch if p.table == table]
                    if part:
                        await client.ask(part)
                if self.think:
                    await asyncio.sleep(self.think * (0.5 + rng.random()))
        finally:
            for client in clients.values():
                client.close()


async def fresh_lookup(ports: dict[str, int], tally: Tally, rng: random.Random) -> float:
    """One lookup on a new connection, as a newly started Postfix process does; its latency."""
    started = time.monotonic()
    probe = probes(rng, time.time())()
    client = TableClient(ports[probe.table], tally)
    await client.ask([probe])
    client.close()
    return time.monotonic() - started
