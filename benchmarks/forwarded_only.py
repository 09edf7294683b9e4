"""Messages per second through Postfix with pysrsd: the plain layout against forwarded-only.

Usage: python benchmarks/forwarded_only.py [--quick] [--rounds N] [--messages N]
           [--sessions N] [--size BYTES]

One pysrsd (tcp_table, free ports) and two private Postfix instances (tests/e2e's
``PostfixInstance``: own configuration, queue and log, no chroot, as root), both relaying every
non-local domain to one ``smtp-sink`` (Postfix's own test server, so the outside world costs
next to nothing): ``plain`` with the canonical maps in main.cf, ``forwarded-only`` with the
layout ``pysrsctl setup --forwarded-only`` plans (its own code, with these ports). Per round,
each layout in turn (the order alternates from round to round) gets ``--messages`` mails from
``smtp-source`` over ``--sessions`` parallel SMTP sessions, all to fwd@fwd.example, a virtual
alias for bob@gmail.example; the clock runs from the first connection until the last copy has
left for the sink (its "status=sent" line in the instance's maillog). A round counts only if
every message left once and rewritten: as many "status=sent" lines to the sink as messages,
as many queue entries with an SRS0 sender, and an empty queue after. CPU is the instance's
processes' (exited ones through master's children time) and the daemon's, per message.
Printed: each round, then per layout the medians and forwarded-only's rate against plain's.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import servers

sys.path[:0] = [str(servers.HERE.parent / "tests"), str(servers.HERE.parent / "tests" / "e2e")]
from postfix_instance import (  # noqa: E402 -- the tests' private Postfix, not a copy of it
    FORWARDING,
    PostfixInstance,
    forwarded_only_layout,
    tcp_maps,
)

ALIAS = "fwd@fwd.example"  # FORWARDING's virtual alias for bob@gmail.example
SENDER = "alice@example.com"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Layout:
    name: str
    postfix: PostfixInstance
    rates: list[float] = field(default_factory=list)
    postfix_cpu: list[float] = field(default_factory=list)  # ms per message
    daemon_cpu: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Bench:
    args: argparse.Namespace
    daemon: servers.Server
    sink: int  # smtp-sink's port

    def sent(self, text: str) -> int:
        """Copies the maillog ``text`` shows sent to the sink."""
        to_sink = rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{self.sink}, .*status=sent"
        return len(re.findall(to_sink, text))


def cpu(pids: list[int]) -> float:
    """Seconds of CPU of these processes and of the children they have reaped."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def log_since(postfix: PostfixInstance, offset: int) -> str:
    with postfix.maillog.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def wait_sent(bench: Bench, postfix: PostfixInstance, offset: int) -> None:
    """Until every message has been sent to the sink."""
    deadline = time.monotonic() + 300
    while bench.sent(log_since(postfix, offset)) < bench.args.messages:
        if time.monotonic() > deadline:
            tail = "\n".join(log_since(postfix, offset).splitlines()[-20:])
            raise RuntimeError(f"{postfix.base}: not every message sent after 300 s:\n{tail}")
        time.sleep(0.02)


def one_run(bench: Bench, layout: Layout) -> None:
    postfix, count = layout.postfix, bench.args.messages
    offset = postfix.maillog.stat().st_size
    pids = postfix.processes()
    daemon = [bench.daemon.proc.pid]
    before = (cpu(pids), cpu(daemon), time.monotonic())
    source = ["smtp-source", "-s", str(bench.args.sessions), "-m", str(count)]
    source += ["-l", str(bench.args.size), "-f", SENDER, "-t", ALIAS, "-M", "client.example"]
    subprocess.run([*source, f"127.0.0.1:{postfix.smtpd_port}"], check=True)
    wait_sent(bench, postfix, offset)
    elapsed = time.monotonic() - before[2]
    used = (cpu(sorted({*pids, *postfix.processes()})) - before[0], cpu(daemon) - before[1])
    check(bench, layout, offset)
    layout.rates.append(count / elapsed)
    layout.postfix_cpu.append(used[0] * 1000 / count)
    layout.daemon_cpu.append(used[1] * 1000 / count)
    print(f"{line(layout, -1)}  ({servers.load()})", flush=True)


def check(bench: Bench, layout: Layout, offset: int) -> None:
    """Every message left once (and no more since), its sender rewritten on the way."""
    time.sleep(1)  # room for a duplicate to show
    text = log_since(layout.postfix, offset)
    sent = bench.sent(text)
    rewritten = len(re.findall(r"qmgr\[\d+\]: \w+: from=<SRS0=", text))
    empty = "Mail queue is empty" in layout.postfix.queue_listing()
    count = bench.args.messages
    if (sent, rewritten, empty) != (count, count, True):
        raise RuntimeError(f"{layout.name}: {sent} sent, {rewritten} rewritten, empty {empty}")


def line(layout: Layout, index: int | None) -> str:
    """One row: round ``index``'s figures, or with None the medians."""
    rows = (layout.rates, layout.postfix_cpu, layout.daemon_cpu)
    rate, postfix, daemon = (
        statistics.median(row) if index is None else row[index] for row in rows
    )
    return (
        f"{layout.name:15} {rate:8.1f} msg/s  Postfix CPU {postfix:6.2f} ms/msg  "
        f"pysrsd CPU {daemon:5.2f} ms/msg"
    )


def start(stack: ExitStack, work: Path) -> tuple[servers.Server, int, list[Layout]]:
    """smtp-sink, the daemon and both instances, each stopped when ``stack`` closes."""
    sink = servers.free_port()
    sink_proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-4", f"127.0.0.1:{sink}", "256"])
    stack.callback(sink_proc.wait)
    stack.callback(sink_proc.terminate)
    (work / "secret").write_bytes(servers.SECRET + b"\n")
    (work / "secret").chmod(0o600)
    command = [sys.executable, "-m", "pysrsd", "--log-level", "warning"]
    daemon, _ = servers.start_pysrsd(work, "pysrsd", command)
    stack.callback(daemon.stop)
    maps = tcp_maps(daemon.forward, daemon.reverse)
    hop = functools.partial(forwarded_only_layout, maps, servers.free_port())
    instances = {
        "plain": PostfixInstance(work / "plain", relay_port=sink, settings=FORWARDING | maps),
        "forwarded-only": PostfixInstance(
            work / "forwarded", relay_port=sink, settings=FORWARDING, configure=hop
        ),
    }
    layouts = []
    for name, instance in instances.items():
        instance.start()
        stack.callback(instance.stop)
        layouts.append(Layout(name, instance))
    return daemon, sink, layouts


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 200 messages")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--messages", type=int, default=1000, help="per run (default 1000)")
    parser.add_argument("--sessions", type=int, default=10, help="parallel SMTP sessions")
    parser.add_argument("--size", type=int, default=2000, help="message payload, bytes")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.messages = 2, 200
    if os.geteuid() != 0:
        print("a private Postfix instance needs root (master starts as root)", file=sys.stderr)
        return 2
    version = subprocess.run(["postconf", "-h", "mail_version"], capture_output=True, text=True)
    print(servers.machine(f"Postfix {version.stdout.strip()}"))
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pysrsd-fwd-")))
        work.chmod(0o755)  # Postfix's own account opens the maillog and the maps by path
        daemon, sink, layouts = start(stack, work)
        bench = Bench(args, daemon, sink)
        for index in range(args.rounds):
            print(f"round {index + 1}/{args.rounds}", flush=True)
            for layout in layouts if index % 2 == 0 else layouts[::-1]:
                one_run(bench, layout)
        print("\nmedians over rounds:")
        for layout in layouts:
            print(line(layout, None))
        plain, forwarded = (statistics.median(layout.rates) for layout in layouts)
        print(f"forwarded-only / plain: {forwarded / plain:.2f} of the rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
