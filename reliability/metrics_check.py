"""Scenarios: the metrics endpoint under load and a reload storm; and beside slow clients.

A daemon with ``--metrics`` serves a checked, pipelined load while it gets a SIGHUP every few
milliseconds and a scraper asks for ``/metrics`` every 50 ms. Every scrape must be answered
(200 within the client's timeout) and no counter may go down between scrapes; at the end, the
lookup counters must equal, kind by kind, the lookups the clients sent and got answered (no
client here ever resends: there is no eviction and no fault on the connections), and the
reload counters the reloads the daemon logged.

``slow_scrapers``: 8 clients each send an unfinished request head to the endpoint and come
back as soon as they are closed (they once held all 4 slots, so no scrape was answered), while
a scrape is asked every 0.25 s beside a checked load: every scrape must be answered.

Like the rest of the suite it drives the real command; prometheus-client's parser reads the
scrapes (the ``metrics`` extra).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

from reliability.client import Load, Tally
from reliability.daemon import Daemon
from reliability.scenarios import Result, Size, _observe

# reliability.oracle's probe kinds → (table, outcome, reason) in pysrsd_lookups_total
EXPECTED = {
    "forward": ("forward", "rewritten", "none"),
    "forward-excluded": ("forward", "not_rewritten", "excluded"),
    "forward-own": ("forward", "not_rewritten", "own_domain"),
    "forward-invalid": ("forward", "not_rewritten", "not_address"),
    "reverse-own": ("reverse", "rewritten", "none"),
    "reverse-plain": ("reverse", "not_rewritten", "not_srs"),
    "reverse-forged": ("reverse", "not_rewritten", "bad_hash"),
}
SCRAPE_TIMEOUT = 10.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int) -> Samples:
    from prometheus_client.parser import text_string_to_metric_families

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), SCRAPE_TIMEOUT)
    finally:
        writer.transport.abort()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"scrape answered {head[:40]!r}")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def lookup_counts(samples: Samples) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "pysrsd_lookups_total" and value:
            d = dict(labels)
            counts[d["table"], d["outcome"], d["reason"]] += int(value)
    return counts


class Scrapes:
    def __init__(self, first: Samples) -> None:
        self.last, self.count = first, 1


async def _scraper(port: int, tally: Tally, stop: asyncio.Event, seen: Scrapes) -> None:
    while not stop.is_set():
        try:
            samples = await scrape(port)
        except (OSError, TimeoutError, RuntimeError) as exc:
            tally.failures += 1
            tally.notes.append(f"scrape failed: {exc!r}")
        else:
            if not lookup_counts(samples) >= lookup_counts(seen.last):
                tally.wrong += 1
                tally.notes.append("a lookup counter went down")
            seen.last, seen.count = samples, seen.count + 1
        await asyncio.sleep(0.05)


async def metrics_under_load(size: Size) -> Result:
    daemon = Daemon(["--metrics", "inet:127.0.0.1:0"]).start()
    try:

        async def body(tally: Tally) -> None:
            port = daemon.ports["metrics"]
            load = Load(daemon.ports, connections=20, depth=10, total=size.pick(40_000, 200_000))
            load.tally = tally
            stop, seen = asyncio.Event(), Scrapes(await scrape(port))
            scraper = asyncio.create_task(_scraper(port, tally, stop, seen))
            running = asyncio.create_task(load.run())
            hups = 0
            while not running.done():
                daemon.signal(signal.SIGHUP)
                hups += 1
                await asyncio.sleep(0.005)
            await running
            stop.set()
            await scraper
            await asyncio.sleep(0.2)  # the last SIGHUP's reload is logged
            final = await scrape(port)
            _compare(daemon, tally, final, hups, seen.count)

        return await _observe(daemon, "metrics under load and reloads", body)
    finally:
        daemon.stop()


def _compare(daemon: Daemon, tally: Tally, final: Samples, hups: int, scrapes: int) -> None:
    sent: Counter[tuple[str, str, str]] = Counter()
    for kind, count in tally.kinds.items():
        sent[EXPECTED[kind]] += count
    counted = lookup_counts(final)
    if counted != sent:
        tally.wrong += 1
        tally.notes.append(f"counters {dict(counted)} != answered {dict(sent)}")
    reloads = daemon.log_count("event='reloaded'")
    ok = final[("pysrsd_reloads_total", (("result", "ok"),))]
    failed = final[("pysrsd_reloads_total", (("result", "failed"),))]
    if (ok, failed) != (reloads, 0):
        tally.wrong += 1
        tally.notes.append(f"reloads counted ok={ok} failed={failed}, logged {reloads}")
    tally.notes.insert(
        0,
        f"{scrapes} scrapes answered; {hups} SIGHUPs, {reloads} reloads; "
        f"counters = answers for {sum(sent.values()):,} lookups in {len(sent)} kinds",
    )


SLOW_CLIENTS = 8
UNFINISHED = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # never the blank line


async def _slow_client(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    """An unfinished head, held until the endpoint closes it; then again at once."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        opened[0] += 1
        try:
            writer.write(UNFINISHED)
            await reader.read()
        except OSError:
            pass
        finally:
            writer.transport.abort()


async def slow_scrapers(size: Size) -> Result:
    daemon = Daemon(["--metrics", "inet:127.0.0.1:0"]).start()
    try:

        async def body(tally: Tally) -> None:
            port = daemon.ports["metrics"]
            stop, opened = asyncio.Event(), [0]
            crowd = [
                asyncio.create_task(_slow_client(port, stop, opened)) for _ in range(SLOW_CLIENTS)
            ]
            load = Load(daemon.ports, connections=10, depth=10, total=10**9)
            load.seconds, load.tally = size.pick(10, 30), tally
            running = asyncio.create_task(load.run())
            asked = answered = 0
            while not running.done():
                asked += 1
                try:
                    await scrape(port)
                    answered += 1
                except (OSError, TimeoutError, RuntimeError) as exc:
                    tally.failures += 1
                    if len(tally.notes) < 3:
                        tally.notes.append(f"scrape failed: {exc!r}")
                await asyncio.sleep(0.25)
            await running
            stop.set()
            await asyncio.gather(*crowd, return_exceptions=True)
            tally.notes.insert(
                0,
                f"{answered} of {asked} scrapes answered beside {SLOW_CLIENTS} slow clients "
                f"({opened[0]:,} connections with an unfinished head)",
            )

        return await _observe(daemon, f"metrics beside {SLOW_CLIENTS} slow clients", body)
    finally:
        daemon.stop()
