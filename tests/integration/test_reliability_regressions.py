"""Regression tests for faults found by the reliability suite. Each starts the real
daemon on loopback port 0 and reproduces one attack that used to break it."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysrsd.service.hub import Hub

_LISTENING = re.compile(r"event='listening' table='(\w+)' address='127\.0\.0\.1:(\d+)'")


class Running:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path, ports: dict[str, int]) -> None:
        self.proc, self.log, self.ports = proc, log, ports

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def count(self, needle: str) -> int:
        return self.log.read_text().count(needle)


def start(tmp_path: Path, *extra: str, nofile: int | None = None) -> Running:
    secrets = tmp_path / "secrets"
    secrets.write_bytes(b"regression-secret\n")
    secrets.chmod(0o600)
    log = tmp_path / "daemon.log"

    def limits() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pysrsd", "--allow-root", "--forward-port", "0",
             "--reverse-port", "0", *extra, "fwd.example", str(secrets)],
            stdout=out, stderr=out, preexec_fn=limits,
        )  # fmt: skip
    deadline = time.monotonic() + 15
    while "event='ready'" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "daemon not ready"
        time.sleep(0.05)
    ports = {t: int(p) for t, p in _LISTENING.findall(log.read_text())}
    return Running(proc, log, ports)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
        d.proc.wait()


def ask(port: int, request: bytes, timeout: float = 3.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        with s.makefile("rb") as stream:
            return stream.readline()


def test_malformed_flood_is_answered_ten_times_then_closed(tmp_path: Path, daemons: list) -> None:
    """100,000 empty lines used to produce 100,000 info log lines (a disk-filling DoS), and
    1,000 such connections that never read kept the daemon at 100 % CPU for two minutes while
    Postfix's lookups waited up to 100 s. Now the first ten are answered, each with its reason,
    then a FIN (not a reset: the client can read every reply), and the rest is never read."""
    d = start(tmp_path)
    daemons.append(d)
    with socket.create_connection(("127.0.0.1", d.ports["reverse"]), timeout=30) as s:
        s.sendall(b"\n" * 100_000)
        time.sleep(0.3)  # the daemon has answered and sent its FIN before we read a byte
        with s.makefile("rb") as stream:
            replies = stream.read()  # up to the FIN
    assert replies == b"500 unknown%20command\n" * 10
    time.sleep(0.2)
    assert d.count("event='bad_request'") == 1
    assert d.count("event='connection_given_up' bad_requests=10") == 1


def test_a_good_request_resets_the_count_of_bad_ones(tmp_path: Path, daemons: list) -> None:
    """Nine malformed requests, a good one, nine more: a client that recovers keeps its
    connection, and every request gets its reply in order."""
    d = start(tmp_path)
    daemons.append(d)
    with socket.create_connection(("127.0.0.1", d.ports["forward"]), timeout=10) as s:
        s.sendall(b"put x y\n" * 9 + b"get a@b.example\n" + b"put x y\n" * 9 + b"get c@d.example\n")
        with s.makefile("rb") as stream:
            replies = [stream.readline() for _ in range(20)]
    bad = b"500 put%20is%20not%20supported\n"
    assert replies[:9] == [bad] * 9 and replies[10:19] == [bad] * 9
    assert replies[9].startswith(b"200 SRS0=") and replies[9].endswith(
        b"=b.example=a@fwd.example\n"
    )
    assert replies[19].startswith(b"200 SRS0=") and replies[19].endswith(
        b"=d.example=c@fwd.example\n"
    )


def test_one_pipelining_client_does_not_stall_the_others(tmp_path: Path, daemons: list) -> None:
    """One read used to take up to 256 KiB, all answered before anyone else was served."""
    d = start(tmp_path)
    daemons.append(d)
    flood = socket.create_connection(("127.0.0.1", d.ports["reverse"]))
    sender = threading.Thread(target=lambda: _send_quietly(flood, b"\n" * 8_000_000))
    sender.start()
    reader = threading.Thread(target=lambda: _read_quietly(flood))
    reader.start()
    time.sleep(0.3)
    worst = 0.0
    for _ in range(20):
        started = time.monotonic()
        assert ask(d.ports["forward"], b"get a@b.example\n").startswith(b"200 SRS0=")
        worst = max(worst, time.monotonic() - started)
    flood.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it
    sender.join()
    reader.join()
    flood.close()
    assert worst < 0.5


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(data)


def _read_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(1 << 16):
            pass


def test_descriptor_exhaustion_evicts_idle_and_does_not_spin(tmp_path: Path, daemons) -> None:
    """With RLIMIT_NOFILE below the connection limit, idle clients used to hold every
    descriptor: accept() failed with EMFILE, asyncio logged ~1000 tracebacks a second and
    nobody new was served until the idle timeout (300 s)."""
    d = start(tmp_path, nofile=256)
    daemons.append(d)
    idle = [socket.create_connection(("127.0.0.1", d.ports["reverse"])) for _ in range(400)]
    time.sleep(0.5)
    cpu = d.cpu()
    for _ in range(5):
        reply = ask(d.ports["reverse"], b"get bob@example.com\n")
        assert reply == b"500 not%20an%20SRS%20address\n"
    time.sleep(1.0)
    assert d.cpu() - cpu < 0.5
    assert d.fds() < 256
    assert d.count("event='connection_limit_lowered'") == 1
    assert d.count("Too many open files") == 0
    for s in idle:
        s.close()


class _FakeConn:
    def __init__(self, last_active: float = 0.0) -> None:
        self.last_active = last_active
        self.closed = False

    def abandon(self) -> None:
        self.closed = True


def test_stalled_peers_are_evicted_before_idle_connections() -> None:
    """Eviction used to look at the 64 least active connections only: 64 peers that never
    read their replies made every newcomer refused while hundreds of idle connections sat
    behind them. Then stalled peers were never evicted at all, so 1,000 of them (a flood that
    never reads) refused every newcomer until the idle timeout. A peer that does not read its
    replies is not Postfix: it goes first, the idle Postfix connections stay."""
    hub = Hub(runtime=None, max_connections=200, idle_timeout=300)  # type: ignore[arg-type]
    stalled = [_FakeConn() for _ in range(100)]
    idle = [_FakeConn() for _ in range(100)]
    for conn in stalled + idle:
        assert hub.admit(conn)  # type: ignore[arg-type]
    for conn in stalled:
        hub.suspect_of(conn)  # type: ignore[arg-type]
    for _ in range(100):
        assert hub.admit(_FakeConn())  # type: ignore[arg-type]
    assert all(c.closed for c in stalled) and not any(c.closed for c in idle)
    assert hub.admit(_FakeConn())  # type: ignore[arg-type]
    assert idle[0].closed and not any(c.closed for c in idle[1:])


def test_idle_timeout_releases_a_peer_that_never_reads(tmp_path: Path, daemons) -> None:
    """A timed-out connection was closed gracefully: with replies unsent to a peer that never
    reads, the transport waited for ever and the descriptor leaked."""
    d = start(tmp_path, "--idle-timeout", "1")
    daemons.append(d)
    baseline = d.fds()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", d.ports["reverse"]))
    s.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        for _ in range(10_000):  # until the daemon stops reading: its replies are unsent
            s.send(b"\n" * 65536)
    time.sleep(0.5)
    assert d.fds() == baseline + 1
    deadline = time.monotonic() + 5
    while d.fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    assert d.fds() == baseline
    s.close()


def test_sigterm_delivers_every_reply_it_produced(tmp_path: Path, daemons: list) -> None:
    """At SIGTERM the daemon closed sockets with unread input, so the kernel sent a RST and
    the client lost replies already sent; 92,000 answered, 2,700 delivered."""
    d = start(tmp_path)
    daemons.append(d)
    s = socket.create_connection(("127.0.0.1", d.ports["forward"]))
    sender = threading.Thread(target=_send_quietly, args=(s, b"get a@b.example\n" * 400_000))
    sender.start()
    time.sleep(1.5)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    s.settimeout(10)
    with s.makefile("rb") as replies:
        data = replies.read()
    assert d.proc.wait(10) == 0
    sender.join()
    s.close()
    answered = d.count("event='rewrite'")
    assert answered > 1000
    assert data.endswith(b"\n")
    assert data.count(b"\n") == answered


def test_sigterm_does_not_wait_for_quiet_connections(tmp_path: Path, daemons: list) -> None:
    """Postfix keeps idle table connections open and notices a FIN only at its next lookup:
    the lingering close must not hold the exit for DRAIN_SECONDS because of them."""
    d = start(tmp_path)
    daemons.append(d)
    with socket.create_connection(("127.0.0.1", d.ports["reverse"])) as s:
        s.sendall(b"get a@b.example\n")
        with s.makefile("rb") as stream:
            assert stream.readline() == b"500 not%20an%20SRS%20address\n"
            time.sleep(1.5)
            started = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            assert d.proc.wait(10) == 0
            assert time.monotonic() - started < 1.0
            assert stream.read() == b""  # a clean FIN
