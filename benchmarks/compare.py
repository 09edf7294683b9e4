"""pysrsd against postsrsd 1.x, side by side, driven by Postfix's own tcp_table client.

Usage: python benchmarks/compare.py [--quick] [--runs N] [--total N] [--only pysrsd|postsrsd]
       [--clients 1,4,16,64] [--workloads forward,reverse-srs,reverse-plain] [--pysrsd-command CMD]

Both daemons get the same secret and domain on free loopback ports. Each run starts C
``postmap -q - tcp:127.0.0.1:PORT`` processes (one persistent connection each, C in 1 4 16 64),
each reading its own key file, and times them until the last exits; the daemons alternate run
by run and the median of the runs is reported. Every postmap output is checked: a found
workload must print one line per key, a not-found one none, and nothing on stderr.

Workloads: forward of plain senders; reverse of valid SRS0 addresses (minted by
``pysrsd.engine.Engine`` with the shared secret, so both daemons verify them); reverse of
ordinary recipients (not SRS: the path every delivery takes).

Also printed: single-connection latency p50/p99 from a small sequential client, pysrsd's peak
RSS (VmHWM) after the runs and with 1,000 idle connections open, and start-up time (spawn →
first answered request). pysrsd runs with its defaults (log level info) and logs to a file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pysrsd.engine import Engine

DOMAIN = "bench.example"
SECRET = b"benchmark-secret-0123456789"
POSTSRSD = "/usr/sbin/postsrsd"
CLIENTS = (1, 4, 16, 64)
WORKLOADS = ("forward", "reverse-srs", "reverse-plain")


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    forward: int
    reverse: int

    def port(self, workload: str) -> int:
        return self.forward if workload == "forward" else self.reverse

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(port: int, key: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"get " + key + b"\n")
        return s.recv(4096)


def wait_answer(port: int, deadline: float) -> None:
    while True:
        try:
            if ask(port, b"probe@example.com"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers on port {port}")
        time.sleep(0.002)


PYSRSD_COMMAND = [sys.executable, "-m", "pysrsd"]


def started(daemon: Daemon, t0: float) -> None:
    """Wait until both tables answer; stop the daemon if they never do."""
    try:
        wait_answer(daemon.forward, t0 + 20)
        wait_answer(daemon.reverse, t0 + 20)
    except BaseException:
        daemon.stop()
        raise


def start_pysrsd(work: Path) -> tuple[Daemon, float]:
    log_path = work / "pysrsd.log"
    log_path.write_bytes(b"")
    log = log_path.open("ab")  # O_APPEND: the file can be truncated between runs
    cmd = [*PYSRSD_COMMAND, "--forward-port", "0", "--reverse-port", "0"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [*cmd, DOMAIN, str(work / "secret")], stderr=log, stdin=subprocess.DEVNULL
    )
    ports: dict[str, int] = {}
    while "ready" not in ports:
        if proc.poll() is not None or time.monotonic() - t0 > 20:
            proc.kill()
            raise RuntimeError("pysrsd did not start:\n" + log_path.read_text())
        for line in log_path.read_text().splitlines():
            if "event='listening'" in line:
                table = line.split("table='")[1].split("'")[0]
                ports[table] = int(line.split("address='")[1].split("'")[0].rsplit(":", 1)[1])
            elif "event='ready'" in line:
                ports["ready"] = 1
        time.sleep(0.002)
    daemon = Daemon("pysrsd", proc, ports["forward"], ports["reverse"])
    started(daemon, t0)
    return daemon, time.monotonic() - t0


def start_postsrsd(work: Path) -> tuple[Daemon, float]:
    fwd, rev = free_port(), free_port()
    t0 = time.monotonic()
    cmd = [POSTSRSD, f"-s{work / 'secret'}", f"-d{DOMAIN}", f"-f{fwd}", f"-r{rev}", "-l127.0.0.1"]
    proc = subprocess.Popen(
        cmd, stderr=(work / "postsrsd.log").open("ab"), stdin=subprocess.DEVNULL
    )
    daemon = Daemon("postsrsd", proc, fwd, rev)
    started(daemon, t0)
    return daemon, time.monotonic() - t0


def make_keys(work: Path, workload: str, clients: int, per_client: int) -> list[Path]:
    """Distinct keys for every client (no key repeats, so no cache can help)."""
    engine = Engine([SECRET], DOMAIN.encode())
    files = []
    for c in range(clients):
        path = work / f"{workload}-{clients}-{c}.keys"
        lines = []
        for i in range(per_client):
            sender = f"user{c}x{i}@host{i % 509}.sender{c}.example.net"
            if workload == "forward":
                lines.append(sender)
            elif workload == "reverse-srs":
                lines.append(engine.forward(sender.encode()).address.decode())  # type: ignore[union-attr]
            else:
                lines.append(f"rcpt{c}x{i}@dept{i % 31}.example.com")
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    return files


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


@dataclass
class Run:
    rate: float  # lookups per second
    cores: float  # CPU used by the daemon's main process, in cores (pysrsd only)
    busy: float  # fraction of all CPUs busy during the run (everything on the machine)


def drive(daemon: Daemon, workload: str, files: list[Path], per_client: int, work: Path) -> Run:
    """Run one postmap per key file at once; measure the rate. Checks every output."""
    port = daemon.port(workload)
    procs = []
    tick = os.sysconf("SC_CLK_TCK")
    cpu0, (busy0, total0) = cpu_ticks(daemon.proc.pid), machine_ticks()
    t0 = time.perf_counter()
    for i, path in enumerate(files):
        with (
            path.open("rb") as keys,
            (work / f"out{i}").open("wb") as out,
            (work / f"err{i}").open("wb") as err,
        ):
            procs.append(
                subprocess.Popen(
                    ["postmap", "-q", "-", f"tcp:127.0.0.1:{port}"],
                    stdin=keys,
                    stdout=out,
                    stderr=err,
                )
            )
    for p in procs:
        p.wait()
    elapsed = time.perf_counter() - t0
    cores = (cpu_ticks(daemon.proc.pid) - cpu0) / tick / elapsed
    busy1, total1 = machine_ticks()
    expected = 0 if workload == "reverse-plain" else per_client
    for i, p in enumerate(procs):
        lines = (work / f"out{i}").read_bytes().count(b"\n")
        stderr = (work / f"err{i}").read_bytes()
        if lines != expected or stderr or p.returncode not in (0, 1):
            raise RuntimeError(
                f"{daemon.name} {workload} client {i}: {lines} lines, expected {expected}, "
                f"rc={p.returncode}, stderr={stderr[:300]!r}"
            )
    busy = (busy1 - busy0) / max(1, total1 - total0)
    return Run(len(files) * per_client / elapsed, cores, busy)


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


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def idle_connections_rss(daemon: Daemon, count: int) -> tuple[int, int]:
    """Open ``count`` connections that each send one request and then stay idle."""
    socks = []
    try:
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", daemon.forward if i % 2 else daemon.reverse))
            s.sendall(b"get idle%d@example.net\n" % i)
            socks.append(s)
        for s in socks:
            s.recv(4096)
        return status_kib(daemon.proc.pid, "VmRSS"), status_kib(daemon.proc.pid, "VmHWM")
    finally:
        for s in socks:
            s.close()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    python = platform.python_version()
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {python}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer keys and runs (about 3 minutes)")
    ap.add_argument("--runs", type=int, help="runs per daemon and point (default 3, quick 1)")
    ap.add_argument("--total", type=int, help="lookups per run (default 160000, quick 40000)")
    ap.add_argument("--only", choices=("pysrsd", "postsrsd"), help="benchmark one daemon")
    ap.add_argument("--clients", default=",".join(map(str, CLIENTS)))
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument(
        "--pysrsd-command",
        help="how to start pysrsd (default: this python -m pysrsd); port flags, DOMAIN and "
        "SECRETS are appended",
    )
    args = ap.parse_args()
    if args.pysrsd_command:
        PYSRSD_COMMAND[:] = shlex.split(args.pysrsd_command)
    runs = args.runs or (1 if args.quick else 3)
    total = args.total or (40_000 if args.quick else 160_000)
    clients_list = [int(c) for c in args.clients.split(",")]
    workloads = args.workloads.split(",")
    names = [n for n in ("pysrsd", "postsrsd") if args.only in (None, n)]
    if "postsrsd" in names and not Path(POSTSRSD).exists():
        print(f"{POSTSRSD} not installed: pysrsd only")
        names = ["pysrsd"]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))

    work = Path(tempfile.mkdtemp(prefix="pysrsd-bench-"))
    (work / "secret").write_bytes(SECRET + b"\n")
    (work / "secret").chmod(0o600)
    print(f"machine: {machine()}")
    print(f"runs={runs} lookups/run={total} clients={clients_list} work={work}", flush=True)

    startup: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(3 if args.quick else 5):
        for name in names:
            d, t = (start_pysrsd if name == "pysrsd" else start_postsrsd)(work)
            startup[name].append(t)
            d.stop()
    daemons = {}
    for name in names:
        daemons[name] = (start_pysrsd if name == "pysrsd" else start_postsrsd)(work)[0]
    try:
        results: dict[tuple[str, str, int], list[float]] = {}
        cores: dict[tuple[str, str, int], list[float]] = {}
        busy: dict[tuple[str, str, int], list[float]] = {}
        for workload in workloads:
            for clients in clients_list:
                per_client = max(total // clients, 2_500)
                files = make_keys(work, workload, clients, per_client)
                for run in range(runs):
                    order = names if run % 2 == 0 else names[::-1]
                    for name in order:
                        one = drive(daemons[name], workload, files, per_client, work)
                        point = (workload, name, clients)
                        results.setdefault(point, []).append(one.rate)
                        cores.setdefault(point, []).append(one.cores)
                        busy.setdefault(point, []).append(one.busy)
                        with contextlib.suppress(FileNotFoundError):
                            os.truncate(work / "pysrsd.log", 0)
                line = f"{workload:14} c={clients:<3} keys/client={per_client:<7}"
                for name in names:
                    point = (workload, name, clients)
                    line += f" {name} {median(results[point]):7.0f}/s"
                    line += f" (cpu {median(busy[point]):4.0%}"
                    line += f", daemon {median(cores[point]):.2f})" if name == "pysrsd" else ")"
                if len(names) == 2:
                    ratio = median(results[workload, "pysrsd", clients]) / median(
                        results[workload, "postsrsd", clients]
                    )
                    line += f"  ratio {ratio:.2f}"
                print(line, flush=True)
                for path in files:
                    path.unlink()
        lat: dict[tuple[str, str], tuple[float, float]] = {}
        n = 2_000 if args.quick else 10_000
        for workload in workloads:
            keys = make_keys(work, workload, 1, 2_000)[0].read_bytes().split()
            for name in names:
                lat[workload, name] = latency(daemons[name].port(workload), keys, n)
        pid = daemons["pysrsd"].proc.pid if "pysrsd" in daemons else None
        hwm_runs = status_kib(pid, "VmHWM") if pid else 0
        rss_idle, hwm_idle = idle_connections_rss(daemons["pysrsd"], 1000) if pid else (0, 0)
    finally:
        for d in daemons.values():
            d.stop()

    print()
    print(
        "| workload | clients | "
        + " | ".join(f"{n} lookups/s" for n in names)
        + (" | ratio pysrsd/postsrsd" if len(names) == 2 else "")
        + (" | pysrsd process CPU (cores) |" if "pysrsd" in names else " |")
    )
    columns = len(names) + (len(names) == 2) + ("pysrsd" in names)
    print("|---|---:|" + "---:|" * columns)
    for workload in workloads:
        for clients in clients_list:
            rates = [median(results[workload, n, clients]) for n in names]
            row = f"| {workload} | {clients} | " + " | ".join(f"{r:,.0f}" for r in rates)
            if len(names) == 2:
                row += f" | {rates[0] / rates[1]:.2f}"
            if "pysrsd" in names:
                row += f" | {median(cores[workload, 'pysrsd', clients]):.2f}"
            print(row + " |")
    print()
    print("| workload | " + " | ".join(f"{n} p50 / p99 µs" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for workload in workloads:
        print(
            f"| {workload} | "
            + " | ".join(f"{lat[workload, n][0]:.0f} / {lat[workload, n][1]:.0f}" for n in names)
            + " |"
        )
    print()
    for name in names:
        print(
            f"start-up to first answer, {name}: median {median(startup[name]) * 1000:.0f} ms "
            f"(max {max(startup[name]) * 1000:.0f} ms, {len(startup[name])} starts)"
        )
    if pid:
        print(f"pysrsd peak RSS (VmHWM) after the runs: {hwm_runs / 1024:.1f} MiB")
        print(
            f"pysrsd with 1,000 idle connections: RSS {rss_idle / 1024:.1f} MiB, "
            f"peak {hwm_idle / 1024:.1f} MiB"
        )
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
