"""The envelope database measured: throughput beside embedded mode, and growth across expiry.

Usage: python benchmarks/envelopes.py throughput [--quick] [--rounds N] [--total N]
           [--clients N] [--configs embedded,database-sqlite,database-redis,auto-sqlite]
           [--variant LABEL=COMMAND ...]
       python benchmarks/envelopes.py growth [--senders N] [--configs ...] [--max-age DAYS]

Both start the real daemon (``python -m pysrsd``, ``--allow-root`` as root; or
``--pysrsd-command``, or for before/after runs one ``--variant`` per daemon command) on
free loopback ports with its log in the work directory, one daemon per configuration:
``embedded``, ``database-sqlite`` and ``auto-sqlite`` (``--envelope-database sqlite:FILE``),
``database-redis`` and ``auto-redis`` (a private ``redis-server`` on a free port, no
persistence). Senders are distinct everywhere (no key is asked twice, so no cache helps) and
one in ``--long-every`` (4) has a local part long enough that its embedded form would exceed
64 octets, so ``auto`` stores it.

throughput: per round, for forward and then reverse, each configuration in turn (the order
rotates from round to round) is driven by ``--clients`` (16) ``postmap -q - tcp:...``
processes at once, each with its own keys; the time runs until the last one exits. Reverse
keys are addresses the same daemon minted (its forward table, pipelined, before the rounds).
Every output line is checked: forward gives ``SRS0=HHHH=TT=host=user@DOMAIN`` for the
embedded form and ``SRS0=HHHH=TT=1=KEY@DOMAIN`` with ``KEY@1`` the sender's postsrsd 2.x
alias for the database form (which form, by the configuration's mode and the length rule);
reverse gives the original sender, byte for byte. Only correct answers count; any wrong or
missing one is listed and the exit status is 1. Printed: medians over rounds of lookups/s,
the daemon's CPU per lookup (and redis-server's), and the ratio to ``embedded``.

growth: every daemon runs under libfaketime (``FAKETIME_TIMESTAMP_FILE``, re-read each
second), Redis cannot (jemalloc and libfaketime 0.9 recurse at start), so its keys are shown
with their TTLs instead. Batch A of ``--senders`` distinct forward lookups (checked as above,
16 postmap clients) goes to each daemon; then the fake clock moves ``--max-age`` + 1 days on
(wall clock and monotonic clock, as a real wait would), and the SQLite daemons' own
housekeeping purges the expired rows while the benchmark only watches; then batch B of as many
new senders. After each step: SQLite file and WAL sizes, pages in use and free, rows (and rows
already expired), the daemon's RSS and peak RSS; Redis ``dbsize``, ``used_memory`` and the
keyspace line (keys with a TTL, mean TTL). A probe thread per SQLite daemon times sequential
lookups (every 5 ms) before the clock moves and during the purge (on the daemon's SQLite
writer thread).
Logs are at ``warning`` here (a million ``rewrite`` lines per batch are not what is measured).
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import servers
from servers import DOMAIN, SECRET, Server

from pysrsd.policy.envelopes import alias

CONFIGS = {  # name: (--original-envelope, store)
    "embedded": ("embedded", ""),
    "database-sqlite": ("database", "sqlite"),
    "database-redis": ("database", "redis"),
    "auto-sqlite": ("auto", "sqlite"),
    "auto-redis": ("auto", "redis"),
}
THROUGHPUT = "embedded,database-sqlite,database-redis,auto-sqlite"
GROWTH = "database-sqlite,auto-sqlite,database-redis"
DOMAIN_B = DOMAIN.encode()
SQLITE = f"SQLite {sqlite3.sqlite_version}"  # in the header of a run
LOCAL_PART_MAX = 64  # octets: beyond this, auto stores the sender (RFC 5321 4.5.3.1.1)
HASH_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/")
SHOWN = 5  # wrong answers printed per run


# -- senders and the answers they must get ---------------------------------------------------


def sender(tag: str, i: int, long_every: int) -> bytes:
    """The ``i``-th sender of a key set named ``tag``; one in ``long_every`` is long."""
    if i % long_every == 0:  # embedded: 13 + 19 + 1 + 44 = 77 octets of local part
        return f"{tag}-{i}-".ljust(44, "q").encode() + f"@lists{i % 97:02}.example.org".encode()
    return f"{tag}-{i}@host{i % 509}.example.net".encode()


def stored(mode: str, address: bytes) -> bool:
    """Whether a daemon in ``mode`` answers the database form for plain ``address``."""
    if mode != "auto":
        return mode == "database"
    user, _, host = address.rpartition(b"@")
    return len(b"SRS0=HHHH=TT=") + len(host) + 1 + len(user) > LOCAL_PART_MAX


def forward_tail(mode: str, address: bytes) -> bytes:
    """What follows ``SRS0=HHHH=TT=`` in the forward answer for ``address``."""
    if stored(mode, address):
        return b"1=" + alias(address)[:-2] + b"@" + DOMAIN_B
    user, _, host = address.rpartition(b"@")
    return host + b"=" + user + b"@" + DOMAIN_B


def forward_ok(mode: str, address: bytes, answer: bytes) -> bool:
    return (
        answer[:5] == b"SRS0="
        and answer[9:10] == b"="
        and answer[12:13] == b"="
        and HASH_CHARS.issuperset(answer[5:9])
        and answer[10:12].isalnum()
        and answer[13:] == forward_tail(mode, address)
    )


@dataclass
class Tally:
    good: int = 0
    wrong: list[str] = field(default_factory=list)

    def bad(self, what: str) -> None:
        self.wrong.append(what)


def check(
    lines: Iterable[bytes], expected: Iterable[tuple[bytes, bytes]], mode: str, tally: Tally
) -> None:
    """postmap's ``key<TAB>value`` lines against (key, sender) pairs, in order. A forward
    key is its own sender (``mode`` says which form it must get); a reverse key must give
    ``sender`` back (``mode`` is ``reverse``)."""
    got = iter(lines)
    for key, original in expected:
        line = next(got, None)
        if line is None:
            tally.bad(f"{key!r}: no answer")
            continue
        answered, tab, value = line.rstrip(b"\n").partition(b"\t")
        if not tab or answered != key:
            tally.bad(f"{key!r}: answer out of order or malformed: {line!r}")
        elif value == original if mode == "reverse" else forward_ok(mode, key, value):
            tally.good += 1
        else:
            tally.bad(f"{key!r} ({mode}): {value!r}")
    for extra in got:
        tally.bad(f"unexpected line {extra!r}")


# -- processes -------------------------------------------------------------------------------


class Redis:
    """A private redis-server on a free loopback port, no persistence."""

    def __init__(self, work: Path) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not installed: leave the redis configurations out")
        self.port = servers.free_port()
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(work)]
        with (work / "redis.log").open("ab") as sink:
            self.proc = subprocess.Popen(command, stdout=sink, stderr=sink)
        deadline = time.monotonic() + 10
        while self.command(b"PING") != b"PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *words: bytes) -> bytes | None:
        """One inline command's reply: a status, an integer or a bulk string; None if down."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                sock.sendall(b" ".join(words) + b"\r\n")
                reader = sock.makefile("rb")
                head = reader.readline().rstrip(b"\r\n")
                if head[:1] == b"$":
                    size = int(head[1:])
                    return b"" if size < 0 else reader.read(size + 2)[:-2]
                return head[1:]
        except OSError:
            return None

    def info(self, section: bytes) -> dict[str, str]:
        text = (self.command(b"INFO", section) or b"").decode()
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {k: v for k, v in pairs}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    found += sorted(glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    if not found:
        raise SystemExit("libfaketime is not installed (Debian: apt-get install faketime)")
    return found[0]


@dataclass
class Daemon:
    name: str
    mode: str
    server: Server
    sqlite: Path | None  # the database file, for a SQLite configuration

    @property
    def pid(self) -> int:
        return self.server.proc.pid


def start(
    work: Path,
    name: str,
    command: list[str],
    redis: Redis | None,
    extra: list[str],
    faketime: Path | None = None,
) -> Daemon:
    mode, store = CONFIGS[config(name)]
    args = [*command, "--original-envelope", mode, *extra]
    sqlite = None
    if store == "sqlite":
        sqlite = work / f"{name.replace(':', '-')}.sqlite"
        args += ["--envelope-database", f"sqlite:{sqlite}"]
    elif store == "redis":
        assert redis is not None
        args += ["--envelope-database", redis.uri]
    if faketime is not None:  # env(1) execs the daemon: same pid
        args = [
            "env",
            f"LD_PRELOAD={libfaketime()}",
            f"FAKETIME_TIMESTAMP_FILE={faketime}",
            "FAKETIME_CACHE_DURATION=1",
            *args,
        ]
    server, _ = servers.start_pysrsd(work, name.replace(":", "-"), args)
    return Daemon(name, mode, server, sqlite)


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime of one process (all its threads), or of one of its threads."""
    stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")


# -- driving postmap -------------------------------------------------------------------------


@dataclass
class Run:
    rate: float  # correct answers per second
    daemon_us: float  # daemon CPU per lookup
    loop_us: float  # of it, the main thread's (the event loop; the rest: the SQLite writer)
    redis_us: float  # redis-server CPU per lookup (0 without Redis)
    seconds: float


def postmap(
    port: int,
    inputs: list[Path],
    work: Path,
    pids: list[int],
    expected: list[Iterable[tuple[bytes, bytes]]],
    mode: str,
    tally: Tally,
) -> Run:
    """One ``postmap -q -`` per input file, all at once, timed to the last exit; then every
    output line checked. ``pids``: daemon (and redis-server) whose CPU is measured."""
    cpu0 = [cpu_seconds(pid) for pid in pids]
    loop0 = cpu_seconds(pids[0], pids[0])
    procs = []
    t0 = time.perf_counter()
    for i, path in enumerate(inputs):
        with path.open("rb") as keys, (work / f"out{i}").open("wb") as out:
            cmd = ["postmap", "-q", "-", f"tcp:127.0.0.1:{port}"]
            err = (work / f"err{i}").open("wb")
            procs.append((subprocess.Popen(cmd, stdin=keys, stdout=out, stderr=err), err))
    for proc, err in procs:
        proc.wait()
        err.close()
    seconds = time.perf_counter() - t0
    cpu = [cpu_seconds(pid) - c for pid, c in zip(pids, cpu0, strict=True)]
    loop = cpu_seconds(pids[0], pids[0]) - loop0
    good = tally.good
    for i, ((proc, _), pairs) in enumerate(zip(procs, expected, strict=True)):
        stderr = (work / f"err{i}").read_bytes()
        if proc.returncode != 0 or stderr:
            tally.bad(f"postmap {i}: exit {proc.returncode}, stderr {stderr[:300]!r}")
        with (work / f"out{i}").open("rb") as out:
            check(out, pairs, mode, tally)
    lookups = sum(1 for path in inputs for _ in path.open("rb"))
    answered = tally.good - good
    per = [c / lookups * 1e6 for c in cpu]
    return Run(answered / seconds, per[0], loop / lookups * 1e6, sum(per[1:]), seconds)


def write_keys(path: Path, keys: Iterable[bytes]) -> Path:
    with path.open("wb") as out:
        out.writelines(k + b"\n" for k in keys)
    return path


def read_pairs(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """A pair file: ``key<TAB>original`` per line."""
    with path.open("rb") as lines:
        for line in lines:
            key, _, original = line.rstrip(b"\n").partition(b"\t")
            yield key, original


def mint(daemon: Daemon, senders: list[bytes], tally: Tally) -> list[bytes]:
    """Each sender's forward answer from ``daemon`` (pipelined on one connection), checked."""
    answers = servers.mint(daemon.server.forward, senders)
    check(
        (s + b"\t" + a for s, a in zip(senders, answers, strict=True)),
        ((s, s) for s in senders),
        daemon.mode,
        tally,
    )
    return answers


# -- throughput ------------------------------------------------------------------------------


def config(name: str) -> str:
    """``database-sqlite`` for ``database-sqlite`` and for a variant's ``after:database-sqlite``."""
    return name.rpartition(":")[2]


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """Daemon command by label: ``""`` for ``--pysrsd-command``, or each ``--variant``."""
    if not args.variant:
        return {"": shlex.split(args.pysrsd_command)}
    found = {}
    for spec in args.variant:
        label, sep, command = spec.partition("=")
        if not sep or not label or ":" in label:
            raise SystemExit(f"--variant {spec!r}: expected LABEL=COMMAND")
        found[label] = shlex.split(command)
    return found


def forward_keys(work: Path, tag: str, clients: int, per_client: int, every: int) -> list[Path]:
    return [
        write_keys(
            work / f"fwd{c}.keys", (sender(f"{tag}c{c}", i, every) for i in range(per_client))
        )
        for c in range(clients)
    ]


def throughput(args: argparse.Namespace, work: Path) -> int:
    rounds = args.rounds or (1 if args.quick else 5)
    total = args.total or (8_000 if args.quick else 64_000)
    per_client = max(total // args.clients, 1)
    configs = args.configs.split(",")
    labelled = commands(args)
    names = [f"{label}:{c}" if label else c for label in labelled for c in configs]
    print(f"machine: {servers.machine(SQLITE)}; {servers.load()}")
    print(f"rounds={rounds} clients={args.clients} lookups/run={per_client * args.clients}")
    print(f"daemons={names} long senders: 1 in {args.long_every}", flush=True)
    redis = Redis(work) if any(CONFIGS[c][1] == "redis" for c in configs) else None
    daemons: dict[str, Daemon] = {}
    tally = Tally()
    results: dict[tuple[str, str], list[Run]] = {}
    try:
        for name in names:
            command = labelled[name.rpartition(":")[0]]
            daemons[name] = start(work, name, command, redis, args.extra)
        reverse_inputs: dict[str, tuple[list[Path], list[Path]]] = {}
        for n, (name, daemon) in enumerate(daemons.items()):
            keys, pairs = [], []
            for c in range(args.clients):
                plain = [sender(f"r{n}c{c}", i, args.long_every) for i in range(per_client)]
                minted = mint(daemon, plain, tally)
                keys.append(write_keys(work / f"rev{n}-{c}.keys", minted))
                pair_lines = (m + b"\t" + s for m, s in zip(minted, plain, strict=True))
                pairs.append(write_keys(work / f"rev{n}-{c}.pairs", pair_lines))
            reverse_inputs[name] = keys, pairs
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for workload in ("forward", "reverse"):
                for name in order:
                    daemon = daemons[name]
                    pids = [daemon.pid]
                    if redis is not None and CONFIGS[config(name)][1] == "redis":
                        pids.append(redis.proc.pid)
                    expected: list[Iterable[tuple[bytes, bytes]]]
                    if workload == "forward":
                        tag = f"f{r}n{names.index(name)}"
                        keys = forward_keys(work, tag, args.clients, per_client, args.long_every)
                        expected = [((k, k) for k in read_keys(p)) for p in keys]
                        port, mode = daemon.server.forward, daemon.mode
                    else:
                        keys, pairs = reverse_inputs[name]
                        expected = [read_pairs(p) for p in pairs]
                        port, mode = daemon.server.reverse, "reverse"
                    run = postmap(port, keys, work, pids, expected, mode, tally)
                    results.setdefault((workload, name), []).append(run)
                    print(
                        f"round {r + 1} {workload:7} {name:24} {run.rate:8.0f}/s "
                        f"daemon {run.daemon_us:5.1f} µs/lookup  {servers.load()}",
                        flush=True,
                    )
    finally:
        for daemon in daemons.values():
            daemon.server.stop()
        if redis is not None:
            redis.stop()
    throughput_table(names, results)
    return report_wrong(tally)


def read_keys(path: Path) -> Iterator[bytes]:
    with path.open("rb") as lines:
        for line in lines:
            yield line.rstrip(b"\n")


def throughput_table(names: list[str], results: dict[tuple[str, str], list[Run]]) -> None:
    """Medians over rounds; the ratio to embedded both as the ratio of the medians and as the
    median of each round's ratio (the daemons of a round ran one after another, so a load
    that changes from round to round moves both sides of that round's ratio alike)."""

    def med(workload: str, name: str, attr: str) -> float:
        return float(statistics.median(getattr(run, attr) for run in results[workload, name]))

    print()
    print(
        "| workload | daemon | lookups/s (median) | ratio to embedded (of medians) "
        "| ratio, median of rounds | daemon CPU µs/lookup | of it, event loop "
        "| redis-server CPU µs/lookup |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for workload in ("forward", "reverse"):
        for name in names:
            label = name.rpartition(":")[0]
            embedded = f"{label}:embedded" if label else "embedded"
            rate = med(workload, name, "rate")
            ratio = per_round = float("nan")
            if embedded in names:
                ratio = rate / med(workload, embedded, "rate")
                pairs = zip(results[workload, name], results[workload, embedded], strict=True)
                per_round = statistics.median(a.rate / b.rate for a, b in pairs)
            redis = med(workload, name, "redis_us") if CONFIGS[config(name)][1] == "redis" else None
            print(
                f"| {workload} | {name} | {rate:,.0f} | {ratio:.2f} | {per_round:.2f} "
                f"| {med(workload, name, 'daemon_us'):.1f} | {med(workload, name, 'loop_us'):.1f} "
                f"| {'—' if redis is None else f'{redis:.1f}'} |"
            )
    print()
    print("every round, lookups/s:")
    for (workload, name), runs in results.items():
        print(f"  {workload} {name}: " + " ".join(f"{run.rate:.0f}" for run in runs))


def report_wrong(tally: Tally) -> int:
    print(f"\nchecked answers: {tally.good:,} correct, {len(tally.wrong):,} wrong or missing")
    for what in tally.wrong[:SHOWN]:
        print("  wrong:", what)
    return 1 if tally.wrong else 0


# -- growth ----------------------------------------------------------------------------------

MIB = 1024 * 1024


def sqlite_figures(path: Path, now: float) -> dict[str, float]:
    """Rows, expired rows, pages in use and free, file and WAL sizes of a live database."""
    db = sqlite3.connect(path, timeout=10)
    try:
        rows = db.execute("SELECT count(*) FROM kv").fetchone()[0]
        expired = db.execute("SELECT count(*) FROM kv WHERE lt <= ?", (int(now),)).fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    wal = Path(f"{path}-wal")
    return {
        "rows": rows,
        "expired": expired,
        "file_mib": path.stat().st_size / MIB,
        "wal_mib": (wal.stat().st_size if wal.exists() else 0) / MIB,
        "used_mib": (pages - free) * page_size / MIB,
        "free_mib": free * page_size / MIB,
    }


@dataclass
class Step:
    step: str
    name: str
    figures: dict[str, float]
    redis: dict[str, str] = field(default_factory=dict)


def snapshot(step: str, daemon: Daemon, redis: Redis | None, offset: float) -> Step:
    figures: dict[str, float] = {
        "rss_mib": servers.status_kib(daemon.pid, "VmRSS") / 1024,
        "hwm_mib": servers.status_kib(daemon.pid, "VmHWM") / 1024,
    }
    if daemon.sqlite is not None:
        figures |= sqlite_figures(daemon.sqlite, time.time() + offset)
        return Step(step, daemon.name, figures)
    assert redis is not None
    memory = redis.info(b"memory")
    space = dict(
        item.split("=", 1) for item in redis.info(b"keyspace").get("db0", "keys=0").split(",")
    )
    avg_ttl = int(space.get("avg_ttl", 0)) / 86400e3  # ms
    keyspace = f"keys={space.get('keys')} expires={space.get('expires')} avg_ttl={avg_ttl:.2f} d"
    ttl = redis.command(b"TTL", b"PostSRSd/" + alias(b"probe@example.com")) or b"?"
    info = {
        "dbsize": (redis.command(b"DBSIZE") or b"?").decode(),
        "used_memory_mib": f"{int(memory.get('used_memory', 0)) / MIB:.1f}",
        "keyspace": keyspace,
        "probe_ttl_days": f"{int(ttl) / 86400:.2f}" if ttl.lstrip(b"-").isdigit() else "?",
    }
    return Step(step, daemon.name, figures, info)


def batch(
    daemon: Daemon, tag: str, senders: int, clients: int, long_every: int, work: Path, tally: Tally
) -> Run:
    """``senders`` distinct forward lookups from ``clients`` postmaps, checked."""
    per = -(-senders // clients)
    keys = []
    for c in range(clients):
        count = max(0, min(per, senders - c * per))
        generated = (sender(f"{tag}c{c}", i, long_every) for i in range(count))
        keys.append(write_keys(work / f"fwd{c}.keys", generated))
    expected: list[Iterable[tuple[bytes, bytes]]] = [((k, k) for k in read_keys(p)) for p in keys]
    return postmap(daemon.server.forward, keys, work, [daemon.pid], expected, daemon.mode, tally)


def reverse_sample(daemon: Daemon, work: Path, count: int, tally: Tally) -> None:
    """The first ``count`` answers of the last batch's first client, reversed: the senders."""
    pairs = list(read_pairs(work / "out0"))[:count]  # (sender, minted)
    back = servers.mint(daemon.server.reverse, [minted for _, minted in pairs])
    for (original, minted), answer in zip(pairs, back, strict=True):
        if answer == original:
            tally.good += 1
        else:
            tally.bad(f"reverse of {minted!r} in {daemon.name}: {answer!r}")


class Prober(threading.Thread):
    """Sequential lookups of an ordinary recipient on a daemon's reverse table, one every
    ``interval`` seconds, each reply checked: how long the event loop keeps a lookup waiting
    while the daemon's housekeeping purges on it. A connection the daemon closes (the idle
    sweep, once the clock has moved on) is opened again and that lookup not counted."""

    def __init__(self, port: int, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.interval = interval
        self.samples: list[float] = []
        self.reconnects = 0
        self.wrong: list[bytes] = []
        self._done = threading.Event()

    def run(self) -> None:
        sock: socket.socket | None = None
        while not self._done.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    reader = sock.makefile("rb")
                t0 = time.perf_counter()
                sock.sendall(b"get rcpt@example.org\n")
                line = reader.readline()
                if not line:
                    raise ConnectionResetError
                if line.startswith(b"500 "):
                    self.samples.append(time.perf_counter() - t0)
                else:
                    self.wrong.append(line)
            except OSError:
                self.reconnects += 1
                if sock is not None:
                    sock.close()
                sock = None
            self._done.wait(self.interval)
        if sock is not None:
            sock.close()

    def finish(self, tally: Tally) -> str:
        """Stop; p50 / p99 / max in ms and how many lookups, the wrong replies tallied."""
        self._done.set()
        self.join()
        tally.good += len(self.samples)
        for line in self.wrong:
            tally.bad(f"latency probe on port {self.port}: {line!r}")
        if len(self.samples) < 2:
            return "no samples"
        q = statistics.quantiles(self.samples, n=100)
        slow = sum(1 for x in self.samples if x > 0.010)
        return (
            f"p50 {q[49] * 1e3:.2f} ms, p99 {q[98] * 1e3:.1f} ms, "
            f"max {max(self.samples) * 1e3:.1f} ms, {slow} over 10 ms "
            f"({len(self.samples):,} lookups)"
        )


def probing(daemons: list[Daemon]) -> dict[str, Prober]:
    probers = {d.name: Prober(d.server.reverse) for d in daemons if d.sqlite is not None}
    for prober in probers.values():
        prober.start()
    return probers


def purged(daemons: list[Daemon], offset: float, patience: float) -> dict[str, float]:
    """Seconds until each SQLite daemon's housekeeping has deleted every expired row (the
    benchmark only watches); NaN if the count stopped falling for ``patience`` seconds."""
    t0 = time.monotonic()
    waiting = {d.name: d for d in daemons if d.sqlite is not None}
    done: dict[str, float] = {}
    last = {name: (-1.0, t0) for name in waiting}
    while waiting:
        time.sleep(1.0)
        now = time.monotonic()
        for name, daemon in list(waiting.items()):
            assert daemon.sqlite is not None
            expired = sqlite_figures(daemon.sqlite, time.time() + offset)["expired"]
            if expired == 0:
                done[name] = now - t0
                del waiting[name]
            elif expired != last[name][0]:
                last[name] = (expired, now)
            elif now - last[name][1] > patience:
                done[name] = float("nan")
                del waiting[name]
    return done


def growth(args: argparse.Namespace, work: Path) -> int:
    names = args.configs.split(",")
    print(f"machine: {servers.machine(SQLITE)}; {servers.load()}")
    print(f"senders per batch={args.senders:,} clients={args.clients} max-age={args.max_age} d")
    print(f"configs={names} long senders: 1 in {args.long_every}", flush=True)
    rc_file = work / "faketime.rc"
    rc_file.write_text("+0\n")
    redis = Redis(work) if any(CONFIGS[n][1] == "redis" for n in names) else None
    command = shlex.split(args.pysrsd_command)
    extra = ["--log-level", "warning", "--max-age", str(args.max_age), *args.extra]
    tally = Tally()
    steps: list[Step] = []
    rates: dict[tuple[str, str], float] = {}
    latency: dict[tuple[str, str], str] = {}
    took: dict[str, float] = {}
    daemons: list[Daemon] = []
    t_start = time.monotonic()
    try:
        for name in names:
            daemons.append(start(work, name, command, redis, extra, rc_file))
        for daemon in daemons:
            steps.append(snapshot("0 started", daemon, redis, 0))
        for daemon in daemons:
            run = batch(daemon, "a", args.senders, args.clients, args.long_every, work, tally)
            rates["A", daemon.name] = run.rate
            reverse_sample(daemon, work, 1000, tally)
            print(
                f"batch A {daemon.name:16} {run.rate:8.0f}/s {run.seconds:6.1f} s  {servers.load()}"
            )
            steps.append(snapshot("1 after batch A", daemon, redis, 0))
        probers = probing(daemons)
        time.sleep(args.idle_probe)
        for name, prober in probers.items():
            latency["idle", name] = prober.finish(tally)
        offset = (args.max_age + 1) * 86400.0
        probers = probing(daemons)
        rc_file.write_text(f"+{args.max_age + 1}d\n")  # read again within a second
        print(f"fake clock moved on {args.max_age + 1} days; waiting for the purge", flush=True)
        took = purged(daemons, offset, patience=60)
        for name, prober in probers.items():
            latency["purging", name] = prober.finish(tally)
        for daemon in daemons:
            if daemon.sqlite is not None:
                print(f"purged {daemon.name:16} in {took[daemon.name]:6.1f} s")
                steps.append(snapshot("2 expired, purged", daemon, redis, offset))
        for daemon in daemons:
            if daemon.sqlite is None:
                continue  # Redis keeps batch A until its real TTL: B would only add to it
            run = batch(daemon, "b", args.senders, args.clients, args.long_every, work, tally)
            rates["B", daemon.name] = run.rate
            reverse_sample(daemon, work, 1000, tally)
            print(
                f"batch B {daemon.name:16} {run.rate:8.0f}/s {run.seconds:6.1f} s  {servers.load()}"
            )
            steps.append(snapshot("3 after batch B", daemon, redis, offset))
    finally:
        for daemon in daemons:
            daemon.server.stop()
        if redis is not None:
            redis.stop()
    growth_tables(steps, rates, took)
    for (when, name), figures in latency.items():
        print(f"lookup latency, {name}, {when}: {figures}")
    print(f"\nwall time {time.monotonic() - t_start:.0f} s")
    return report_wrong(tally)


def growth_tables(
    steps: list[Step], rates: dict[tuple[str, str], float], took: dict[str, float]
) -> None:
    print()
    print(
        "| configuration | step | rows | expired rows | file MiB | WAL MiB | pages in use MiB "
        "| free pages MiB | daemon RSS MiB | daemon peak RSS MiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in sorted((s for s in steps if not s.redis), key=lambda s: s.name):
        f = s.figures
        print(
            f"| {s.name} | {s.step} | {f['rows']:,.0f} | {f['expired']:,.0f} "
            f"| {f['file_mib']:.1f} | {f['wal_mib']:.1f} | {f['used_mib']:.1f} "
            f"| {f['free_mib']:.1f} | {f['rss_mib']:.1f} | {f['hwm_mib']:.1f} |"
        )
    redis_steps = [s for s in steps if s.redis]
    if redis_steps:
        print()
        print(
            "| configuration | step | dbsize | used_memory MiB | keyspace (db0) "
            "| TTL of one key, days | daemon RSS MiB | daemon peak RSS MiB |"
        )
        print("|---|---|---:|---:|---|---:|---:|---:|")
        for s in redis_steps:
            r, f = s.redis, s.figures
            print(
                f"| {s.name} | {s.step} | {r['dbsize']} | {r['used_memory_mib']} "
                f"| {r['keyspace']} | {r['probe_ttl_days']} | {f['rss_mib']:.1f} "
                f"| {f['hwm_mib']:.1f} |"
            )
    print()
    for (b, name), rate in sorted(rates.items()):
        print(f"batch {b} {name}: {rate:,.0f} checked lookups/s")
    for name, seconds in took.items():
        print(f"purge {name}: {seconds:.0f} s after the clock moved on")


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("throughput", help="lookups/s per configuration, alternating rounds")
    tp.add_argument("--quick", action="store_true", help="1 round of 8,000 lookups per run")
    tp.add_argument("--rounds", type=int, help="rounds (default 5, quick 1)")
    tp.add_argument("--total", type=int, help="lookups per run (default 64,000, quick 8,000)")
    tp.add_argument("--configs", default=THROUGHPUT, help=f"default {THROUGHPUT}")
    gp = sub.add_parser("growth", help="database size and RSS across expiry (libfaketime)")
    gp.add_argument("--senders", type=int, default=1_000_000, help="per batch (1,000,000)")
    gp.add_argument("--max-age", type=int, default=21, help="days (21, the default)")
    gp.add_argument("--configs", default=GROWTH, help=f"default {GROWTH}")
    gp.add_argument(
        "--idle-probe", type=float, default=5.0, help="seconds of latency probes before expiry (5)"
    )
    for p in (tp, gp):
        p.add_argument("--clients", type=int, default=16, help="postmap processes (16)")
        p.add_argument("--long-every", type=int, default=4, help="one long sender in N (4)")
        p.add_argument(
            "--pysrsd-command",
            default=f"{sys.executable} -m pysrsd",
            help="how to start pysrsd (default: this Python, -m pysrsd; as root, --allow-root)",
        )
        p.add_argument(
            "--extra", action="append", default=[], help="one more daemon argument (repeatable)"
        )
        p.add_argument("--keep", action="store_true", help="keep the work directory")
    tp.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=COMMAND",
        help="measure every configuration with this daemon command too (repeatable; replaces "
        "--pysrsd-command): before/after comparisons in one alternating run",
    )
    args = ap.parse_args(argv)
    unknown = [n for n in args.configs.split(",") if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pysrsd-envelopes-"))
    try:
        (work / "secret").write_bytes(SECRET + b"\n")
        (work / "secret").chmod(0o600)
        return throughput(args, work) if args.command == "throughput" else growth(args, work)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
