"""The reliability scenarios. Each starts its own daemon, runs a bounded load next to
the fault it injects, and returns a ``Result``. ``Size`` holds the short (CI) and full figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from reliability import hostile
from reliability.client import Load, Tally, fresh_lookup
from reliability.daemon import SECRET, Daemon
from reliability.oracle import OLD_SECRETS, quote


@dataclass(frozen=True)
class Size:
    full: bool

    def pick(self, short: int, full: int) -> int:
        return full if self.full else short


@dataclass
class Result:
    name: str
    tally: Tally
    seconds: float = 0.0
    peak_rss_kb: int = 0
    max_fds: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.tally.failures == 0 and self.tally.wrong == 0


Scenario = Callable[[Size], Awaitable[Result]]


async def _observe(daemon: Daemon, name: str, body: Callable[[Tally], Awaitable[None]]) -> Result:
    """Run ``body`` with the daemon sampled every 0.5 s; fill in the common figures."""
    tally = Tally()
    result = Result(name, tally)
    started = time.monotonic()

    async def sampler() -> None:
        while daemon.alive():
            daemon.sample()
            await asyncio.sleep(0.5)

    task = asyncio.create_task(sampler())
    try:
        await body(tally)
    finally:
        result.seconds = time.monotonic() - started
        if daemon.alive():
            daemon.sample()
            result.peak_rss_kb = daemon.peak_rss_kb()
        task.cancel()
    result.notes = tally.notes
    result.peak_rss_kb = max(result.peak_rss_kb, max((s[1] for s in daemon.samples), default=0))
    result.max_fds = max((s[2] for s in daemon.samples), default=0)
    return result


async def _fresh_clients(ports: dict[str, int], tally: Tally, stop: asyncio.Event) -> float:
    """A new client every 0.2 s, in its own process, until ``stop``; the worst latency."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reliability.probe", str(ports["forward"]), str(ports["reverse"]),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await stop.wait()
    out, _ = await proc.communicate(b"")
    lookups, failures, wrong, worst_ms = (int(x) for x in out.split())
    tally.lookups += lookups
    tally.failures += failures
    tally.wrong += wrong
    return worst_ms / 1000


async def _idle_connections(port: int, count: int) -> list[asyncio.StreamWriter]:
    writers = []
    for i in range(count):
        with contextlib.suppress(OSError, TimeoutError):
            _r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            writers.append(w)
        if i % 100 == 99:
            await asyncio.sleep(0)  # let the daemon keep up with accepting
    return writers


def _close_all(writers: list[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.transport.abort()


# -- scenarios ---------------------------------------------------------------------------
async def pipelined(size: Size) -> Result:
    """Correctness under a plain pipelined load: every answer checked against the oracle."""
    daemon = Daemon().start()
    try:
        load = Load(daemon.ports, connections=20, depth=50, total=size.pick(100_000, 300_000))
        return await _observe(daemon, "pipelined lookups", lambda t: _run_load(load, t))
    finally:
        daemon.stop()


async def _run_load(load: Load, tally: Tally) -> None:
    load.tally = tally
    await load.run()


async def concurrency(size: Size) -> Result:
    """1,000 connections doing lookups and 5,000 idle ones held open (limit raised to 7,000),
    while a fresh client connects every 0.2 s."""
    daemon = Daemon(["--max-connections", "7000"]).start()
    try:
        return await _observe(
            daemon, "1,000 active + 5,000 idle", lambda t: _crowd(daemon, t, size, 1000, 5000)
        )
    finally:
        daemon.stop()


async def idle_flood(size: Size) -> Result:
    """At the default limit (1,000): 5,000 idle connections flood in beside 200 busy ones.
    Evicted clients reconnect, as Postfix does; no lookup may go unanswered."""
    daemon = Daemon().start()
    try:
        return await _observe(
            daemon, "idle flood at limit 1,000", lambda t: _crowd(daemon, t, size, 200, 5000)
        )
    finally:
        daemon.stop()


async def _crowd(
    daemon: Daemon, tally: Tally, size: Size, active: int, idle: int, total: int = 30_000
) -> None:
    load = Load(daemon.ports, connections=active, think=0.05, total=size.pick(total, total * 3))
    load.tally = tally
    stop = asyncio.Event()
    fresh = asyncio.create_task(_fresh_clients(daemon.ports, tally, stop))
    running = asyncio.create_task(load.run())
    idlers = await _idle_connections(daemon.ports["reverse"], idle)
    await running
    stop.set()
    worst = await fresh
    daemon.sample()
    _close_all(idlers)
    tally.notes = [
        f"{len(idlers)} idle opened; reconnects {tally.reconnects}; "
        f"fresh client worst {worst * 1000:.0f} ms"
    ]


async def fd_exhaustion(size: Size) -> Result:
    """RLIMIT_NOFILE 256 (limit lowered to 160): 1,000 idle sockets try to hold every
    descriptor while a load runs; fresh clients must still be served, the daemon must not
    spin, and once the crowd leaves it must be back to normal."""
    daemon = Daemon(nofile=256).start()
    try:

        async def body(tally: Tally) -> None:
            cpu = daemon.cpu_seconds()
            await _crowd(daemon, tally, size, 50, 1000, total=10_000)
            await asyncio.sleep(1.5)
            _rss, fds = daemon.sample()
            rng = random.Random(5)
            for _ in range(20):  # recovered: ordinary service
                await fresh_lookup(daemon.ports, tally, rng)
            tally.notes[0] += (
                f"; fds after {fds}; cpu {daemon.cpu_seconds() - cpu:.1f} s; "
                f"EMFILE lines {daemon.log_count('Too many open files')}"
            )

        return await _observe(daemon, "fd exhaustion (nofile 256)", body)
    finally:
        daemon.stop()


async def hostile_clients(size: Size) -> Result:
    """Byte-at-a-time, never-reading, megabytes without LF, mid-request disconnects, random
    bytes: all at once, beside a load whose every answer is checked."""
    daemon = Daemon().start()
    try:

        async def body(tally: Tally) -> None:
            fwd, rev = daemon.ports["forward"], daemon.ports["reverse"]
            load = Load(daemon.ports, connections=50, depth=5, total=size.pick(30_000, 200_000))
            load.tally = tally
            side = Tally()
            await asyncio.gather(
                load.run(),
                hostile.byte_at_a_time(rev, side, size.pick(20, 100)),
                *(hostile.never_reads(fwd, 5.0) for _ in range(20)),
                *(hostile.no_newline(fwd, side, size.pick(4, 16)) for _ in range(4)),
                hostile.disconnect_mid_request(rev, size.pick(500, 3000)),
                hostile.random_bytes(fwd, side, size.pick(300, 2000), seed=7),
            )
            tally.merge(side)
            tally.notes = [f"hostile checks passed: {side.lookups}"]

        return await _observe(daemon, "hostile clients", body)
    finally:
        daemon.stop()


async def file_faults(size: Size) -> Result:
    """Secrets file and exclusion map edited in place, renamed over, emptied, deleted, made
    unreadable and given 1,000 lines, every 0.3 s, during load (the daemon polls every 1 s
    and also gets a SIGHUP after each change). The signing secret stays first throughout,
    so every forward answer is still known."""
    daemon = Daemon().start()
    try:

        async def body(tally: Tally) -> None:
            load = Load(daemon.ports, connections=20, depth=10, strict_exclusions=False)
            load.total = size.pick(60_000, 200_000)
            load.tally = tally
            running = asyncio.create_task(load.run())
            changes = 0
            while not running.done():
                _mutate(daemon, changes)
                daemon.signal(signal.SIGHUP)
                changes += 1
                await asyncio.sleep(0.3)
            await running
            _restore(daemon)
            daemon.signal(signal.SIGHUP)
            await asyncio.sleep(1.5)
            strict = Load(daemon.ports, connections=5, depth=20, total=5_000)
            strict.tally = tally
            await strict.run()  # after the storm: exactly the restored configuration
            reloads = daemon.log_count("event='reloaded'")
            failed = daemon.log_count("event='reload_failed'")
            note = f"{changes} file changes; {reloads} reloads, {failed} refused (kept last good)"
            tally.notes = [note]

        return await _observe(daemon, "secrets/exclusions faults", body)
    finally:
        daemon.stop()


def _mutate(daemon: Daemon, step: int) -> None:
    secrets, exclude = daemon.secrets, daemon.exclude
    thousand = b"".join(s + b"\n" for s in OLD_SECRETS[1:])
    actions: list[Callable[[], object]] = [
        lambda: secrets.write_bytes(SECRET + b"\n" + OLD_SECRETS[0] + b"\n"),  # in place
        lambda: _rename_over(secrets, SECRET + b"\n" + thousand),
        lambda: secrets.write_bytes(b""),  # emptied: refused, last good kept
        lambda: secrets.unlink(missing_ok=True),  # deleted: refused
        lambda: _rename_over(secrets, SECRET + b"\n"),
        lambda: secrets.chmod(0o000),  # unreadable (root reads it anyway)
        lambda: secrets.chmod(0o600),
        lambda: exclude.write_bytes(b"excluded.example\n.sub.example\n"),
        lambda: _rename_over(exclude, b"".join(b"d%d.example\n" % i for i in range(1000))),
        lambda: exclude.write_bytes(b""),
        lambda: exclude.unlink(missing_ok=True),
        lambda: _rename_over(exclude, b"excluded.example\n"),
    ]
    actions[step % len(actions)]()


def _rename_over(path: os.PathLike[str], data: bytes) -> None:
    tmp = f"{os.fspath(path)}.new"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _restore(daemon: Daemon) -> None:
    _rename_over(daemon.secrets, SECRET + b"\n")
    _rename_over(daemon.exclude, b"excluded.example\n")


async def sighup_storm(size: Size) -> Result:
    """1,000 SIGHUPs (one per ms) during load: every lookup answered, and answered right."""
    daemon = Daemon().start()
    try:

        async def body(tally: Tally) -> None:
            load = Load(daemon.ports, connections=20, depth=10, total=size.pick(40_000, 150_000))
            load.tally = tally
            running = asyncio.create_task(load.run())
            sent = 0
            while not running.done() and sent < size.pick(1000, 5000):
                daemon.signal(signal.SIGHUP)
                sent += 1
                await asyncio.sleep(0.001)
            await running
            tally.notes = [f"{sent} SIGHUPs"]

        return await _observe(daemon, "SIGHUP storm", body)
    finally:
        daemon.stop()


async def sigterm(size: Size) -> Result:
    """SIGTERM during load: 100 clients have each pipelined 150 requests in one write that fits
    one read of the daemon's (read by it, replies unread); every one of those 15,000 must be
    answered, then EOF; exit status 0. (More than one read's worth would not all be read: the
    daemon reads a pipelining connection's next 4 KiB only once the last read is answered, and
    requests not yet read at SIGTERM are not owed an answer.)"""
    daemon = Daemon().start()
    try:

        async def body(tally: Tally) -> None:
            load = Load(daemon.ports, connections=100, think=0.01, total=10**9, seconds=60)
            load.tally = Tally()  # the background load is cut off by design: not counted
            running = asyncio.create_task(load.run())
            await asyncio.sleep(2.0)
            streams = [await _pipeline(daemon.ports["forward"], i) for i in range(100)]
            await asyncio.sleep(0.5)  # the daemon has read them all by now
            stopped = time.monotonic()
            daemon.signal(signal.SIGTERM)
            for i, (reader, writer) in enumerate(streams):
                data = await asyncio.wait_for(reader.read(), 10)
                _check_pipelined(tally, i, data)
                writer.transport.abort()
            code = await asyncio.to_thread(daemon.wait, 15)
            load.stop.set()
            await running
            if code != 0:
                tally.failures += 1
            tally.notes = [
                f"exit {code} after {time.monotonic() - stopped:.2f} s; background load had "
                f"{load.tally.lookups} answers, {load.tally.wrong} wrong before it"
            ]
            tally.wrong += load.tally.wrong

        return await _observe(daemon, "SIGTERM during load", body)
    finally:
        daemon.stop()


PIPELINED = 150  # requests of at most 25 bytes: one write, one read of the daemon's 4 KiB


async def _pipeline(port: int, i: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"".join(b"get " + quote(b"p%d.%d@term.example" % (i, j)) + b"\n" for j in range(PIPELINED))
    )
    await writer.drain()
    return reader, writer


def _check_pipelined(tally: Tally, i: int, data: bytes) -> None:
    lines = data.split(b"\n")
    if lines[-1] != b"":
        tally.wrong += 1  # a torn reply
    for j, line in enumerate(lines[:-1]):
        if line.startswith(b"200 SRS0=") and line.endswith(
            b"=term.example=p%d.%d@fwd.example" % (i, j)
        ):
            tally.lookups += 1
        else:
            tally.wrong += 1
    tally.failures += max(0, PIPELINED - (len(lines) - 1))


async def soak(size: Size) -> Result:
    """A long pipelined load with RSS and descriptors sampled: no growth allowed (RSS in the
    last quarter of the run within 4 MiB of the first; descriptors back to the baseline)."""
    daemon = Daemon().start()
    try:
        _rss, baseline_fds = daemon.sample()
        total = size.pick(150_000, 1_000_000)
        load = Load(daemon.ports, connections=40, depth=20, total=total, seconds=3600)
        result = await _observe(daemon, f"soak ({total:,} lookups)", lambda t: _run_load(load, t))
        during = daemon.samples[3:-1]  # after warm-up, before the clients leave
        await asyncio.sleep(1.0)
        _rss, final_fds = daemon.sample()
    finally:
        daemon.stop()
    quarter = max(1, len(during) // 4)
    first = sum(s[1] for s in during[:quarter]) / quarter
    last = sum(s[1] for s in during[-quarter:]) / quarter
    result.notes.append(
        f"{len(during)} samples; RSS first quarter {first / 1024:.1f} MiB, last quarter "
        f"{last / 1024:.1f} MiB; fds before {baseline_fds}, after {final_fds}"
    )
    if last - first > 4096 or final_fds != baseline_fds:
        result.tally.failures += 1
        result.notes.append("GROWTH")
    return result


ALL: list[Scenario] = [
    pipelined,
    concurrency,
    idle_flood,
    fd_exhaustion,
    hostile_clients,
    file_faults,
    sighup_storm,
    sigterm,
    soak,
]
