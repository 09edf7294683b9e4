"""User-space instructions per lookup, counted by callgrind: a figure other load cannot move.

Usage: python benchmarks/instructions.py [--servers pysrsd,pfix-srsd,ceiling]
       [--workloads forward,reverse-srs,reverse-plain] [--lookups 1000,6000] [--clients 16]
       [--pfix-srsd BIN] [--ceiling BIN] [--postsrsd BIN] [--compiled] [--top 12] [--keep]

Timings on a shared machine move with whatever else runs (``compare.py`` alternates servers
and takes medians for that reason); instruction counts do not. Each server runs under
``valgrind --tool=callgrind`` twice per workload, once answering the smaller number of lookups
of ``--lookups`` and once the larger, from ``--clients`` connections that each send one
request and wait for its reply, as Postfix's processes do; the difference of the two totals
over the difference of the lookups is what one lookup costs in user space (start-up, shutdown
and the first lookups cancel out). The kernel's share (system time) is not counted: it is
about equal between the servers (``compare.py`` shows it), and it is where the ceiling spends
nearly all of its CPU. Every reply is checked. Reverse keys are minted beforehand by an
instance of the same server outside valgrind (same secret, same day), so minting is not
counted. For each pysrsd workload the functions whose counts grew most are listed, by
shared object and by function (``callgrind_annotate``), to say where the instructions go.
``--compiled`` adds ``pysrsd-mypyc``, the mypyc build of this checkout (``servers.build_compiled``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import servers

Command = Callable[[Path, int, int], list[str]]
WORKLOADS = ("forward", "reverse-srs", "reverse-plain")
_CALL = re.compile(r"^=>|\([\d,]+x\)$")
_COST = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(.*?)(?: \[(.*)\])?$")


def commands(args: argparse.Namespace, work: Path) -> dict[str, Command]:
    out: dict[str, Command] = {
        "pysrsd": lambda w, f, r: [
            sys.executable,
            "-m",
            "pysrsd",
            "--forward-port",
            str(f),
            "--reverse-port",
            str(r),
            *(["--allow-root"] if os.geteuid() == 0 else []),
            servers.DOMAIN,
            str(w / "secret"),
        ],
    }
    if args.compiled and (tree := servers.build_compiled(work)) is not None:
        # The build first on the import path; run as ``python -m pysrsd`` would run it.
        boot = (
            f"import runpy, sys; sys.path.insert(0, {str(tree)!r}); "
            "runpy.run_module('pysrsd', run_name='__main__', alter_sys=True)"
        )
        out["pysrsd-mypyc"] = lambda w, f, r: [
            sys.executable,
            "-c",
            boot,
            *out["pysrsd"](w, f, r)[3:],
        ]
    if args.pfix_srsd:
        out["pfix-srsd"] = lambda w, f, r: [
            args.pfix_srsd,
            "-f",
            "-u",
            "-P",
            "tcp",
            "-e",
            str(f),
            "-d",
            str(r),
            servers.DOMAIN,
            str(w / "secret"),
        ]
    if args.postsrsd and Path(args.postsrsd).exists():
        out["postsrsd"] = lambda w, f, r: [
            args.postsrsd,
            f"-s{w / 'secret'}",
            f"-d{servers.DOMAIN}",
            f"-f{f}",
            f"-r{r}",
            "-l127.0.0.1",
        ]
    if args.ceiling:
        out["ceiling"] = lambda w, f, r: [args.ceiling, str(f)]
    return out


def wait_answering(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # valgrind starts CPython slowly: a hang guard
    while True:
        try:
            servers.ask(port, b"probe@example.com", 60)
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on port {port}") from None
            time.sleep(0.2)


def drive(
    port: int, keys: list[bytes], clients: int, expect: Callable[[bytes, bytes], bool]
) -> None:
    """Each connection sends one request and reads its reply before the next, as Postfix."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(clients)]
    replies = [s.makefile("rb") for s in socks]
    try:
        for start in range(0, len(keys), clients):
            chunk = keys[start : start + clients]
            for s, key in zip(socks, chunk, strict=False):
                s.sendall(b"get " + key + b"\n")
            for r, key in zip(replies, chunk, strict=False):
                reply = r.readline()
                if not expect(key, reply):
                    raise RuntimeError(f"wrong reply to {key!r}: {reply!r}")
    finally:
        for s in socks:
            s.close()


def workload_keys(work: Path, name: str, command: Command, workload: str, n: int) -> list[bytes]:
    plain = [b"user%d@host%d.example.org" % (i, i % 251) for i in range(n)]
    if workload != "reverse-srs":
        return plain
    fwd, rev = servers.free_port(), servers.free_port()
    proc = subprocess.Popen(
        command(work, fwd, rev), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_answering(fwd, proc)
        return servers.mint(fwd, plain)
    finally:
        proc.terminate()
        proc.wait(10)


def expectation(name: str, workload: str) -> Callable[[bytes, bytes], bool]:
    """What a correct reply to ``key`` looks like (the ceiling refuses everything)."""
    if name == "ceiling" or workload == "reverse-plain":
        return lambda key, reply: reply.startswith(b"500 ")
    if workload == "forward":
        tail = b"@" + servers.DOMAIN.encode() + b"\n"
        return lambda key, reply: (
            reply.startswith(b"200 SRS0=") and reply.endswith(b"=" + key.split(b"@")[0] + tail)
        )
    return lambda key, reply: reply.startswith(b"200 user") and reply.endswith(b".example.org\n")


def counted(
    work: Path,
    name: str,
    command: Command,
    workload: str,
    keys: list[bytes],
    clients: int,
    tag: str,
) -> Path:
    """Run ``name`` under callgrind for ``keys``; the callgrind output file."""
    out = work / f"callgrind.{name}.{workload}.{tag}"
    fwd, rev = servers.free_port(), servers.free_port()
    with (work / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                *command(work, fwd, rev),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_answering(fwd, proc)
        port = rev if workload.startswith("reverse") else fwd
        if keys:
            drive(port, keys, clients, expectation(name, workload))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return out


def costs(path: Path, by_object: bool) -> dict[str, int]:
    """Self cost per function (or per shared object) of a callgrind output file."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out: dict[str, int] = {}
    for line in text.splitlines():
        match = _COST.match(line)
        if match is None or "PROGRAM TOTALS" in line or "events annotated" in line:
            continue
        if _CALL.search(match[2]):
            continue  # (a call line, ``=> f (Nx)``: inclusive cost, counted where it is spent)
        where = (match[3] or "?") if by_object else match[2].rsplit("/", 1)[-1]
        out[where] = out.get(where, 0) + int(match[1].replace(",", ""))
    return out


def total(path: Path) -> int:
    found = re.search(r"^(?:summary|totals): (\d+)", path.read_text(errors="replace"), re.M)
    if found is None:
        raise RuntimeError(f"{path}: no totals (did the server exit cleanly?)")
    return int(found[1])


def grown(small: Path, large: Path, lookups: int, by_object: bool, top: int) -> list[str]:
    a, b = costs(small, by_object), costs(large, by_object)
    rows = sorted(((b.get(k, 0) - a.get(k, 0)) / lookups, k) for k in set(a) | set(b))
    return [f"      {per:8.0f}  {where[:100]}" for per, where in reversed(rows[-top:])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", default="pysrsd,pfix-srsd,ceiling")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--lookups", default="1000,6000", help="the two loads (1000,6000)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pfix-srsd", default=os.environ.get("PYSRSD_BENCH_PFIX_SRSD"))
    parser.add_argument("--ceiling", default=os.environ.get("PYSRSD_BENCH_CEILING"))
    parser.add_argument("--postsrsd", default="/usr/sbin/postsrsd")
    parser.add_argument("--compiled", action="store_true", help="also the mypyc build")
    parser.add_argument("--top", type=int, default=12, help="functions listed per workload")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        print("needs valgrind (apt-get install valgrind)")
        return 1
    small, large = (int(n) for n in args.lookups.split(","))
    work = Path(tempfile.mkdtemp(prefix="pysrsd-instructions-"))
    (work / "secret").write_bytes(servers.SECRET + b"\n")
    if args.ceiling is None and "ceiling" in args.servers:
        args.ceiling = servers.build_ceiling(work)
    available = commands(args, work)
    if args.compiled and "pysrsd-mypyc" not in args.servers:
        args.servers = args.servers.replace("pysrsd", "pysrsd,pysrsd-mypyc", 1)
    names = [n for n in args.servers.split(",") if n in available]
    missing = [n for n in args.servers.split(",") if n not in available]
    print(
        servers.machine(
            f"valgrind callgrind; {args.clients} connections; lookups {small} and {large}"
        )
    )
    if missing:
        print(f"not measured (no binary given or found): {', '.join(missing)}")
    print(f"{'workload':14} {'server':12} {'instructions/lookup':>18}")
    try:
        for workload in args.workloads.split(","):
            for name in names:
                if name == "ceiling" and workload != "forward":
                    continue  # it answers every lookup alike: one workload says it all
                keys = workload_keys(work, name, available[name], workload, large)
                runs = [
                    counted(work, name, available[name], workload, keys[:n], args.clients, str(n))
                    for n in (small, large)
                ]
                per = (total(runs[1]) - total(runs[0])) / (large - small)
                print(f"{workload:14} {name:12} {per:18,.0f}", flush=True)
                if name.startswith("pysrsd") and args.top:
                    print("    by shared object:")
                    print("\n".join(grown(runs[0], runs[1], large - small, True, 6)))
                    print("    by function:")
                    print("\n".join(grown(runs[0], runs[1], large - small, False, args.top)))
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
