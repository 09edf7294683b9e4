"""CPU per request of the daemon's own work, in-process: no sockets, no kernel, no clients.

Usage: PYTHONPATH=src python benchmarks/inprocess.py [--rounds 7] [--requests 20000]
       [--checkout NAME=DIR ...] [--compiled] [--metrics] [--log-level info[,warning]]
       [--loop uvloop]

Each variant (this checkout, ``--checkout`` trees such as a ``git worktree`` of an earlier
commit, and with ``--compiled`` the mypyc build of each) runs in a process of its own, with
that tree's ``src`` on ``PYTHONPATH``. A worker builds the daemon's objects as ``pysrsd``
does (settings, ``Runtime``, ``Daemon``: hub, metrics, the listeners' connection factories)
and feeds one ``service.server.Connection`` per listener one request per read, as Postfix
sends them (a tcp_table ``get`` line, a socketmap netstring), through a transport that only
collects the replies. The log is configured as the daemon's (``--log-level``, kv format) and
written to /dev/null once per loop turn, so the per-rewrite line is included; with several
levels (``info,warning``) each tree runs at each, as variants of their own (the difference
is what the log lines cost). Each workload
is timed with ``time.process_time`` (this process's CPU only) after a warm-up; the variants
take turns round by round, in alternating order, so other work on a shared machine moves all
alike, and the medians are printed. The replies of every variant are hashed: a variant that
answers differently from the first is reported, and the run fails.

Workloads: forward of plain senders; reverse of valid SRS0 addresses of our domain (minted by
the variant's own engine); reverse of ordinary recipients (not SRS). Default settings
(separated hash input, base64url, ``=``), one secret.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import servers

DOMAIN = "bench.example"
SECRET = b"inprocess-benchmark-secret-0123456789"
WORKLOADS = ("forward", "reverse-srs", "reverse-plain")
PROTOCOLS = ("tcp_table", "socketmap")
HERE = Path(__file__).resolve().parent


class Sink:
    """The transport side a Connection uses: replies are hashed, nothing is sent."""

    def __init__(self) -> None:
        self.digest = hashlib.sha1(usedforsecurity=False)
        self.write = self.digest.update

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def keys(workload: str, count: int) -> list[bytes]:
    if workload == "reverse-plain":
        return [b"rcpt%dx@dept%d.example.com" % (i, i % 509) for i in range(count)]
    return [b"user%dx@host%d.sender.example.net" % (i, i % 509) for i in range(count)]


def wire(protocol: str, workload: str, key: bytes) -> bytes:
    """One request as Postfix sends it (the keys need no %XX encoding)."""
    if protocol == "tcp_table":
        return b"get " + key + b"\n"
    name = b"forward" if workload == "forward" else b"reverse"
    payload = name + b" " + key
    return b"%d:%s," % (len(payload), payload)


async def worker(requests: int, log_level: str, metrics: bool) -> dict[str, object]:
    """Time every workload and protocol once in this process; the figures as JSON."""
    from pysrsd.config.settings import Settings
    from pysrsd.observe import logs
    from pysrsd.policy import tables

    try:
        from pysrsd.policy.runtime import Runtime
    except ImportError:  # a checkout from before the move
        from pysrsd.policy.state import Runtime  # type: ignore[attr-defined,no-redef]
    from pysrsd.service import server
    from pysrsd.service.daemon import Daemon
    from pysrsd.srs.engine import Rewritten

    work = Path(tempfile.mkdtemp(prefix="pysrsd-inprocess-"))
    (work / "secrets").write_bytes(SECRET + b"\n")
    (work / "secrets").chmod(0o600)
    values: dict[str, object] = {"domain": DOMAIN, "secrets_file": work / "secrets"}
    if metrics:
        values["metrics"] = "inet:127.0.0.1:0"
    settings = Settings.model_validate({**values, "log_level": log_level})
    sink = open(os.devnull, "w")  # noqa: SIM115  # the daemon's stderr, for the whole run
    logs.configure(log_level, "kv", journal=False, stream=sink)
    runtime = Runtime(settings)
    daemon = Daemon(settings, runtime)
    figures: dict[str, object] = {}
    for workload in WORKLOADS:
        plain = keys(workload, requests)
        if workload == "reverse-srs":
            minted = [runtime.state.engine.forward(k) for k in plain]
            plain = [m.address for m in minted if isinstance(m, Rewritten)]
        for protocol in PROTOCOLS:
            name = "socketmap" if protocol == "socketmap" else workload.partition("-")[0]
            if hasattr(daemon, "connections"):  # as the daemon's listeners make them
                conn = daemon.connections(name)()
            else:  # a checkout from before the fast path
                table, codec = daemon._codecs(name)
                lookup = daemon.metrics.meter(protocol, tables.lookup)
                conn = server.factory(daemon.hub, table, codec, lookup)()
            transport = Sink()
            conn.connection_made(transport)  # type: ignore[arg-type]
            lines = [wire(protocol, workload, k) for k in plain]
            feed = conn.data_received
            for line in lines[: len(lines) // 10]:  # warm-up
                feed(line)
            transport.digest = hashlib.sha1(usedforsecurity=False)
            transport.write = transport.digest.update
            await asyncio.sleep(0)  # the log lines of the warm-up are written
            started = time.process_time()
            for line in lines:
                feed(line)
            elapsed = time.process_time() - started
            await asyncio.sleep(0)
            figures[f"{workload} {protocol}"] = {
                "us": elapsed / len(lines) * 1e6,
                "replies": transport.digest.hexdigest(),
            }
            conn.connection_lost(None)
    sink.close()
    return figures


def run_worker(args: argparse.Namespace) -> None:
    if args.loop == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        figures = runner.run(worker(args.requests, args.log_level, args.metrics))
    print(json.dumps(figures))


def trees(args: argparse.Namespace, work: Path) -> dict[str, Path]:
    """Each tree's directory to put on PYTHONPATH."""
    found = {"this": HERE.parent / "src"}
    for spec in args.checkout:
        name, _, directory = spec.partition("=")
        found[name] = Path(directory).resolve() / "src"
    if args.compiled:
        for name, src in list(found.items()):
            tree = servers.build_compiled(work / name, src.parent)
            if tree is not None:
                found[f"{name}-mypyc"] = tree
    return found


def measure(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="pysrsd-inprocess-"))
    levels = args.log_level.split(",")
    variants = {
        name if len(levels) == 1 else f"{name}@{level}": (src, level)
        for name, src in trees(args, work).items()
        for level in levels
    }
    names = list(variants)
    print(f"machine: {servers.machine()}; {servers.load()}")
    print(
        f"rounds={args.rounds} requests={args.requests} log={args.log_level} "
        f"metrics={'on' if args.metrics else 'off'} loop={args.loop} variants={names}",
        flush=True,
    )
    command = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    command += ["--requests", str(args.requests), "--loop", args.loop]
    command += ["--metrics"] if args.metrics else []
    samples: dict[str, list[dict[str, dict[str, object]]]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            src, level = variants[name]
            env = {**os.environ, "PYTHONPATH": str(src)}
            out = subprocess.run(
                [*command, "--log-level", level],
                env=env,
                capture_output=True,
                check=True,
                text=True,
            )
            samples[name].append(json.loads(out.stdout))
        print(f"round {r + 1}/{args.rounds} done; {servers.load()}", flush=True)
    return report(names, samples)


def report(names: list[str], samples: dict[str, list[dict[str, dict[str, object]]]]) -> int:
    points = list(samples[names[0]][0])
    print("\nµs of CPU per request, median of the rounds (min-max):\n")
    print("| workload | protocol | " + " | ".join(names) + " |")
    print("|---|---|" + "---:|" * len(names))
    wrong = []
    for point in points:
        row = []
        for name in names:
            us = [float(str(s[point]["us"])) for s in samples[name]]
            row.append(f"{statistics.median(us):.2f} ({min(us):.2f}-{max(us):.2f})")
            replies = {s[point]["replies"] for s in samples[name]}
            if replies != {samples[names[0]][0][point]["replies"]}:
                wrong.append(f"{name} {point}")
        workload, protocol = point.split()
        print(f"| {workload} | {protocol} | " + " | ".join(row) + " |")
    if wrong:  # the same day, secret and keys: every variant owes the same bytes
        print(f"\nreplies differ from {names[0]}'s: {', '.join(wrong)}")
        return 1
    print(f"\nreplies: identical across variants and rounds ({len(points)} points)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--checkout", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--compiled", action="store_true", help="also each variant's mypyc build")
    parser.add_argument("--metrics", action="store_true", help="with --metrics on")
    parser.add_argument(
        "--log-level", default="info", help="info, warning, or several: info,warning"
    )
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return 0
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
