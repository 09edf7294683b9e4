"""What metrics cost on the lookup path, in-process and in CPU time.

Usage: PYTHONPATH=src python benchmarks/metrics_cost.py [--rounds 9] [--requests 50000]

One ``server.Connection`` per setting (metrics off: ``tables.lookup`` itself; on: the metered
lookup), fed one tcp_table request per read as Postfix sends them, through a transport that
only collects replies. The two settings alternate round by round and each round is timed with
``time.process_time`` (CPU of this process only), so other work on a shared machine moves both
alike; the medians and their ratio are printed per workload. The end-to-end figure (sockets,
Postfix's postmap) comes from ``compare.py --variant "metrics=--metrics inet:127.0.0.1:0"``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from pysrsd.config.settings import Settings
from pysrsd.observe import logs, metrics
from pysrsd.policy import tables
from pysrsd.policy.runtime import Runtime
from pysrsd.service.hub import Hub
from pysrsd.service.server import Connection
from pysrsd.srs.engine import Engine, Rewritten
from pysrsd.wire.lookup import Table
from pysrsd.wire.tcp_table import TcpTableCodec, quote

DOMAIN = "bench.example"
SECRET = b"metrics-cost-secret-0123456789"


class Sink:
    """The transport side a Connection uses, keeping nothing."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def requests(workload: str, count: int) -> list[bytes]:
    senders = [b"user%d@host%d.example.org" % (i, i % 97) for i in range(count)]
    if workload == "reverse-srs":
        engine = Engine([SECRET], DOMAIN.encode(), hash_input="concatenated")
        minted = [engine.forward(s) for s in senders]
        senders = [m.address for m in minted if isinstance(m, Rewritten)]
    return [b"get " + quote(s) + b"\n" for s in senders]


def one_round(conn: Connection, lines: list[bytes]) -> float:
    feed = conn.data_received
    started = time.process_time()
    for line in lines:
        feed(line)
    return time.process_time() - started


async def measure(rounds: int, count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="metrics-cost-"))
    (work / "secrets").write_bytes(SECRET + b"\n")
    (work / "secrets").chmod(0o600)
    settings = Settings.model_validate(
        {
            "domain": DOMAIN,
            "secrets_file": work / "secrets",
            "metrics": "inet:127.0.0.1:0",
            "hash_input": "concatenated",
            "log_level": "warning",
        }
    )
    logs.configure("warning", "kv", journal=False)
    runtime = Runtime(settings)
    hub = Hub(runtime, 10, 300.0)
    live = metrics.build(settings, runtime, hub)
    for workload, table in (
        ("reverse-plain", Table.REVERSE),
        ("reverse-srs", Table.REVERSE),
        ("forward", Table.FORWARD),
    ):
        lines = requests(workload, count)
        conns = {
            "off": Connection(hub, table, TcpTableCodec(16384)),
            "on": Connection(
                hub, table, TcpTableCodec(16384), live.meter("tcp_table", tables.lookup)
            ),
        }
        for conn in conns.values():
            conn.connection_made(Sink())  # type: ignore[arg-type]
        times: dict[str, list[float]] = {"off": [], "on": []}
        for i in range(rounds):
            for name in ("off", "on") if i % 2 == 0 else ("on", "off"):
                times[name].append(one_round(conns[name], lines) / len(lines) * 1e6)
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        print(
            f"{workload:14} off {off:6.2f} µs  on {on:6.2f} µs  on/off {on / off:5.3f}  "
            f"(+{on - off:.2f} µs per request, median of {rounds} alternating rounds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()
    asyncio.run(measure(args.rounds, args.requests))


if __name__ == "__main__":
    main()
