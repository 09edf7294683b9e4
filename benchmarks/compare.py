"""pysrsd beside postsrsd 1.x, pfix-srsd and a ceiling server, driven by Postfix's own client.

Usage: python benchmarks/compare.py [--quick] [--runs N] [--total N] [--clients 16,64]
       [--workloads forward,reverse-srs,reverse-plain] [--servers pysrsd,postsrsd,...]
       [--pfix-srsd BIN] [--ceiling BIN] [--postsrsd BIN] [--compiled] [--trivial]
       [--checkout NAME=DIR ...] [--variant NAME=ARGS ...]

Every server gets the same secret and domain on free loopback ports (see ``servers.py``). Each
run starts C ``postmap -q - tcp:127.0.0.1:PORT`` processes at once (one persistent connection
each, every one with its own keys, no key repeated) and times them until the last exits; the
servers take turns within each round, in a rotating order, and medians are reported. Every
postmap output is checked: a found workload must print one line per key (the ceiling and the
not-found workload none), and nothing on stderr; a failed or missing answer stops the run.

Workloads: forward of plain senders; reverse of valid SRS0 addresses (each daemon's own, minted
by its forward table); reverse of ordinary recipients (not SRS: the path every delivery takes).

Per point it prints lookups/s, the server's CPU per lookup (µs: utime + stime of its process
and reaped children over the lookups, the figure that matters when clients and server share
the cores; the tables give user and system time apart) and the load average; ``--trivial``
adds pysrsd answering every lookup with a fixed not-found (``trivial.py``: its transport
path's own cost); then p50/p99 latency of sequential lookups on one connection,
pysrsd's peak RSS and start-up times. Peers are found from options or the environment
(``PYSRSD_BENCH_PFIX_SRSD``, ``PYSRSD_BENCH_CEILING``); the run says which are absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import report
import servers
from servers import SECRET, Server

CLIENTS = (1, 4, 16, 64)
WORKLOADS = ("forward", "reverse-srs", "reverse-plain")
Point = tuple[str, str, int]  # workload, server, clients


@dataclass
class Run:
    rate: float  # lookups per second
    cpu_us: float  # server CPU per lookup, µs
    user_us: float = 0.0  # of which user time
    system_us: float = 0.0  # and system time


def senders(workload: str, clients: int, per_client: int) -> list[list[bytes]]:
    """Distinct keys for every client (no key repeats, so no cache can help)."""
    if workload == "reverse-plain":
        form = "rcpt{c}x{i}@dept{m}.example.com"
    else:
        form = "user{c}x{i}@host{m}.sender{c}.example.net"
    return [
        [form.format(c=c, i=i, m=i % 509).encode() for i in range(per_client)]
        for c in range(clients)
    ]


def key_files(work: Path, workload: str, keys: list[list[bytes]], name: str) -> list[Path]:
    files = []
    for c, lines in enumerate(keys):
        path = work / f"{name}-{workload}-{c}.keys"
        path.write_bytes(b"\n".join(lines) + b"\n")
        files.append(path)
    return files


def drive(server: Server, workload: str, files: list[Path], per_client: int, work: Path) -> Run:
    """One postmap per key file, all at once; the rate. Checks every output."""
    port = server.port(workload)
    procs = []
    cpu0 = servers.cpu_ticks(server.proc.pid)
    t0 = time.perf_counter()
    for i, path in enumerate(files):
        out, err = work / f"out{i}", work / f"err{i}"
        with path.open("rb") as keys, out.open("wb") as sink, err.open("wb") as errors:
            cmd = ["postmap", "-q", "-", f"tcp:127.0.0.1:{port}"]
            procs.append(subprocess.Popen(cmd, stdin=keys, stdout=sink, stderr=errors))
    for p in procs:
        p.wait()
    elapsed = time.perf_counter() - t0
    time.sleep(0.05)  # a forking server reaps its children
    cpu1, tick = servers.cpu_ticks(server.proc.pid), os.sysconf("SC_CLK_TCK")
    user, system = (cpu1[0] - cpu0[0]) / tick, (cpu1[1] - cpu0[1]) / tick
    found = server.finds and workload != "reverse-plain"
    expected = per_client if found else 0
    for i, p in enumerate(procs):
        lines = (work / f"out{i}").read_bytes().count(b"\n")
        stderr = (work / f"err{i}").read_bytes()
        if lines != expected or stderr or p.returncode not in (0, 1):
            raise RuntimeError(
                f"{server.name} {workload} client {i}: {lines} lines, expected {expected}, "
                f"rc={p.returncode}, stderr={stderr[:300]!r}"
            )
    lookups = len(files) * per_client
    per = 1e6 / lookups
    return Run(lookups / elapsed, (user + system) * per, user * per, system * per)


def latency(port: int, keys: list[bytes], n: int) -> tuple[float, float]:
    """p50, p99 in microseconds of sequential get/reply on one connection."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        samples = []
        for i in range(n + n // 10):
            key = keys[i % len(keys)]
            t0 = time.perf_counter_ns()
            s.sendall(b"get " + key + b"\n")
            f.readline()
            if i >= n // 10:  # the first tenth warms up
                samples.append(time.perf_counter_ns() - t0)
    q = statistics.quantiles(samples, n=100)
    return q[49] / 1000, q[98] / 1000


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = ap.add_argument
    add("--quick", action="store_true", help="fewer keys and runs")
    add("--runs", type=int, help="rounds per point (default 5, quick 1)")
    add("--total", type=int, help="lookups per run (default 64000, quick 16000)")
    add("--clients", default="16,64", help=f"client counts (default 16,64; also {CLIENTS})")
    add("--workloads", default=",".join(WORKLOADS))
    add("--servers", help="comma-separated subset of the servers to measure")
    add("--postsrsd", default="/usr/sbin/postsrsd", help="postsrsd 1.x binary")
    add("--pfix-srsd", default=os.environ.get("PYSRSD_BENCH_PFIX_SRSD"), help="binary")
    add("--ceiling", default=os.environ.get("PYSRSD_BENCH_CEILING"), help="ceiling binary")
    add("--pysrsd-command", default=f"{sys.executable} -m pysrsd", help="how to start pysrsd")
    add("--compiled", action="store_true", help="also measure the mypyc build (pysrsd-mypyc)")
    add("--trivial", action="store_true", help="also pysrsd answering a fixed not-found")
    add(
        "--checkout",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure pysrsd from another checkout's DIR/src (e.g. a git worktree of an "
        "earlier commit, for before/after figures; repeatable)",
    )
    add(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="also measure pysrsd with these extra arguments (repeatable)",
    )
    return ap.parse_args()


Starter = Callable[[Path], tuple[Server, float]]


def starters(args: argparse.Namespace, work: Path) -> dict[str, Starter]:
    """Every server to measure, by name; says which peers are absent."""
    base = shlex.split(args.pysrsd_command)
    found: dict[str, Starter] = {
        "pysrsd": partial(servers.start_pysrsd, name="pysrsd", command=base)
    }
    if args.compiled and (tree := servers.build_compiled(work)) is not None:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        found["pysrsd-mypyc"] = partial(
            servers.start_pysrsd, name="pysrsd-mypyc", command=base, env=env
        )
    for spec in args.checkout:
        name, _, directory = spec.partition("=")
        env = {**os.environ, "PYTHONPATH": str(Path(directory).resolve() / "src")}
        found[name] = partial(servers.start_pysrsd, name=name, command=base, env=env)
    if args.trivial:
        command = [sys.executable, str(Path(__file__).resolve().parent / "trivial.py")]
        found["pysrsd-trivial"] = partial(
            servers.start_pysrsd, name="pysrsd-trivial", command=command, finds=False
        )
    for spec in args.variant:
        name, _, extra = spec.partition("=")
        command = [*base, *shlex.split(extra)]
        found[name] = partial(servers.start_pysrsd, name=name, command=command)
    peers = {
        "postsrsd": (args.postsrsd, servers.start_postsrsd),
        "pfix-srsd": (args.pfix_srsd, servers.start_pfix_srsd),
        "ceiling": (args.ceiling or servers.build_ceiling(work), servers.start_ceiling),
    }
    for name, (binary, start) in peers.items():
        if binary and Path(binary).exists():
            found[name] = partial(start, binary=binary)
        else:
            print(f"{name}: not found ({binary or 'give --' + name}): not measured")
    wanted = args.servers.split(",") if args.servers else list(found)
    return {n: found[n] for n in wanted if n in found}


def main() -> int:
    args = parse_args()
    runs = args.runs or (1 if args.quick else 5)
    total = args.total or (16_000 if args.quick else 64_000)
    clients_list = [int(c) for c in args.clients.split(",")]
    workloads = args.workloads.split(",")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    work = Path(tempfile.mkdtemp(prefix="pysrsd-bench-"))
    (work / "secret").write_bytes(SECRET + b"\n")
    (work / "secret").chmod(0o600)
    start = starters(args, work)
    names = list(start)
    print(f"machine: {servers.machine()}; {servers.load()}")
    print(f"rounds={runs} lookups/run={total} clients={clients_list} servers={names}", flush=True)
    startup: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(3):
        for name in names:
            server, seconds = start[name](work)
            startup[name].append(seconds)
            server.stop()
    running = {name: start[name](work)[0] for name in names}
    try:
        results = measure(running, work, workloads, clients_list, total, runs)
        lat = {}
        for workload in workloads:
            keys = prepare(running, work, workload, 1, 2_000)
            for name in names:
                plain = keys[name][0].read_bytes().split()
                lat[workload, name] = latency(running[name].port(workload), plain, 5_000)
        hwm = {n: servers.status_kib(s.proc.pid, "VmHWM") for n, s in running.items()}
    finally:
        for server in running.values():
            server.stop()
    report.tables(names, workloads, clients_list, results, lat)
    report.footer(names, startup, hwm)
    return 0


def prepare(
    running: dict[str, Server], work: Path, workload: str, clients: int, per_client: int
) -> dict[str, list[Path]]:
    """Key files per server: its own SRS addresses for reverse-srs, the same keys otherwise."""
    keys = senders(workload, clients, per_client)
    shared = key_files(work, workload, keys, "all")
    files = {}
    first_minted: list[Path] | None = None
    for name, server in running.items():
        if workload != "reverse-srs":
            files[name] = shared
        elif server.finds:
            minted = [servers.mint(server.forward, k) for k in keys]
            files[name] = key_files(work, workload, minted, name)
            first_minted = first_minted or files[name]
    for name, server in running.items():
        if workload == "reverse-srs" and not server.finds:
            files[name] = first_minted or shared  # the ceiling answers anything alike
    return files


def measure(
    running: dict[str, Server],
    work: Path,
    workloads: list[str],
    clients_list: list[int],
    total: int,
    runs: int,
) -> dict[Point, list[Run]]:
    names = list(running)
    results: dict[Point, list[Run]] = {}
    for workload in workloads:
        for clients in clients_list:
            per_client = max(total // clients, 1_000)
            files = prepare(running, work, workload, clients, per_client)
            for r in range(runs):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    one = drive(running[name], workload, files[name], per_client, work)
                    results.setdefault((workload, name, clients), []).append(one)
            line = f"{workload:14} c={clients:<3}"
            for name in names:
                point = results[workload, name, clients]
                rate = median([x.rate for x in point])
                line += f" {name} {rate:7.0f}/s {median([x.cpu_us for x in point]):5.1f}µs"
            print(f"{line}  {servers.load()}", flush=True)
            for path in work.glob("*.keys"):
                path.unlink()
    return results


if __name__ == "__main__":
    sys.exit(main())
