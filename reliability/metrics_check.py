"""Scenario: the metrics endpoint under load and a reload storm.

A daemon with ``--metrics`` serves a checked, pipelined load while it gets a SIGHUP every few
milliseconds and a scraper asks for ``/metrics`` every 50 ms. Every scrape must be answered
(200 within the client's timeout) and no counter may go down between scrapes; at the end, the
lookup counters must equal, kind by kind, the lookups the clients sent and got answered (no
client here ever resends: there is no eviction and no fault on the connections), and the
reload counters the reloads the daemon logged.

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
