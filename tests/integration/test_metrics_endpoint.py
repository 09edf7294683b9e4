"""The real daemon with ``--metrics``: what a scrape reports is what clients sent, over both
protocols; the endpoint is bounded, listens only where it is told, and works under socket
activation."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, Client, free_ports, require, running_daemon, write_secrets
from prometheus_client.parser import text_string_to_metric_families

from pysrsd.observe.metrics_http import MAX_UNREAD
from pysrsd.srs.engine import Engine, Rewritten
from pysrsd.wire.socketmap import encode_netstring

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TIMEOUT = 10.0


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return write_secrets(tmp_path / "secrets", SECRET)


def scrape(port: int, host: str = "127.0.0.1") -> Samples:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=TIMEOUT) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def lookups(samples: Samples) -> dict[tuple[str, str, str, str], float]:
    """(table, protocol, outcome, reason) → count, only those above zero."""
    found = {}
    for (name, labels), value in samples.items():
        if name == "pysrsd_lookups_total" and value:
            d = dict(labels)
            found[d["table"], d["protocol"], d["outcome"], d["reason"]] = value
    return found


def mint(address: bytes, *, days_ago: int = 0, secret: str = SECRET) -> bytes:
    now = time.time() - days_ago * 86400
    outcome = Engine([secret.encode()], DOMAIN.encode(), clock=lambda: now).forward(address)
    assert isinstance(outcome, Rewritten)
    return outcome.address


def socketmap_get(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(encode_netstring(request))
    return sock.recv(4096)


def test_counters_match_the_lookups_sent(tmp_path: Path, secrets: Path) -> None:
    (socketmap_port,) = free_ports(1)
    extra = ("--metrics", "inet:127.0.0.1:0", "--socketmap", f"inet:127.0.0.1:{socketmap_port}")
    with running_daemon(tmp_path, secrets, *extra) as daemon:
        port = daemon.ports["metrics"]
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            for i in range(5):
                assert fwd.get(b"alice%d@example.org" % i).startswith(b"200 ")
            assert fwd.get(b"no-at-sign").startswith(b"500 ")
            assert fwd.get(b"bob@" + DOMAIN.encode()).startswith(b"500 ")
            assert rev.get(mint(b"carol@example.org")) == b"200 carol@example.org\n"
            for i in range(3):
                assert rev.get(mint(b"x%d@example.org" % i, secret="forger")).startswith(b"500 ")
            assert rev.get(mint(b"dave@example.org", days_ago=60)).startswith(b"500 ")
            for i in range(4):
                assert rev.get(b"user%d@example.net" % i).startswith(b"500 ")
            assert rev.get(b"SRS0=ab@" + DOMAIN.encode()).startswith(b"500 ")
            fwd.send(b"put a b\n")  # a bad request is not a lookup
            assert fwd.reply().startswith(b"500 ")
        with socket.create_connection(("127.0.0.1", socketmap_port), timeout=TIMEOUT) as sm:
            assert b":OK SRS0=" in socketmap_get(sm, b"forward erin@example.org")
            assert b"NOTFOUND" in socketmap_get(sm, b"reverse frank@example.net")
        samples = scrape(port)
    assert lookups(samples) == {
        ("forward", "tcp_table", "rewritten", "none"): 5,
        ("forward", "tcp_table", "not_rewritten", "not_address"): 1,
        ("forward", "tcp_table", "not_rewritten", "own_domain"): 1,
        ("reverse", "tcp_table", "rewritten", "none"): 1,
        ("reverse", "tcp_table", "not_rewritten", "bad_hash"): 3,
        ("reverse", "tcp_table", "not_rewritten", "expired"): 1,
        ("reverse", "tcp_table", "not_rewritten", "not_srs"): 4,
        ("reverse", "tcp_table", "not_rewritten", "malformed"): 1,
        ("forward", "socketmap", "rewritten", "none"): 1,
        ("reverse", "socketmap", "not_rewritten", "not_srs"): 1,
    }
    assert samples[("pysrsd_connections_accepted_total", frozenset())] == 3
    assert samples[("process_open_fds", frozenset())] > 0  # the library's process metrics


def test_eviction_reload_and_scrape_under_silent_scrapers(tmp_path: Path, secrets: Path) -> None:
    extra = ("--metrics", "inet:127.0.0.1:0", "--max-connections", "2")
    with running_daemon(tmp_path, secrets, *extra) as daemon:
        port = daemon.ports["metrics"]
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_UNREAD)]
        try:
            first, second = Client(daemon.reverse_port), Client(daemon.reverse_port)
            assert first.get(b"a@example.net").startswith(b"500 ")
            assert second.get(b"b@example.net").startswith(b"500 ")
            with Client(daemon.forward_port) as third:  # evicts the longest idle: first
                assert third.get(b"c@example.org").startswith(b"200 ")  # lookups go on
            assert first.reader.readline() == b""
            first.close()
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as extra_one:
                extra_one.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                assert extra_one.recv(4096).startswith(b"HTTP/1.1 200 OK")
            silent[0].settimeout(TIMEOUT)
            with contextlib.suppress(ConnectionResetError):  # pushed out: EOF or reset
                assert silent[0].recv(4096) == b""
        finally:
            for sock in silent:
                sock.close()
        daemon.signal(signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        while "event='reloaded'" not in daemon.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        samples = scrape(port)
        second.close()
    plain = frozenset[tuple[str, str]]()
    assert samples[("pysrsd_connections_accepted_total", plain)] == 3
    assert samples[("pysrsd_connections_evicted_total", plain)] == 1
    assert samples[("pysrsd_connections_max", plain)] == 2
    assert samples[("pysrsd_reloads_total", frozenset({("result", "ok")}))] == 1
    assert samples[("pysrsd_secrets", plain)] == 1


def test_listens_only_on_the_address_given(tmp_path: Path, secrets: Path) -> None:
    with running_daemon(tmp_path, secrets, "--metrics", "inet:127.0.0.1:0") as daemon:
        port = daemon.ports["metrics"]
        assert scrape(port)
        with pytest.raises(OSError):  # 127.0.0.2 is loopback too, but not the address given
            socket.create_connection(("127.0.0.2", port), timeout=TIMEOUT).close()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=TIMEOUT).close()
        refused.value.close()
        assert refused.value.code == 404  # only /metrics is served


def test_from_the_environment(tmp_path: Path, secrets: Path) -> None:
    """PYSRSD_METRICS, as a daemontools env/ directory or a systemd Environment= sets it."""
    env = {"PYSRSD_METRICS": "inet:127.0.0.1:0"}
    with running_daemon(tmp_path, secrets, env=env) as daemon:
        with Client(daemon.reverse_port) as rev:
            assert rev.get(b"bob@example.net").startswith(b"500 ")
        samples = scrape(daemon.ports["metrics"])
    assert lookups(samples) == {("reverse", "tcp_table", "not_rewritten", "not_srs"): 1}


@pytest.fixture
def activated(tmp_path: Path, secrets: Path) -> Iterator[tuple[int, int, Path]]:
    require("systemd-socket-activate")
    forward, reverse, metrics_port = free_ports(3)
    log = tmp_path / "activated.log"
    src = Path(__file__).resolve().parents[2] / "src"
    command = ["systemd-socket-activate", "-E", f"PYTHONPATH={src}"]
    command += [f"--listen=127.0.0.1:{forward}", f"--listen=127.0.0.1:{reverse}"]
    command += ["--fdname=forward:reverse", sys.executable, "-m", "pysrsd"]
    command += ["--allow-root"] if os.geteuid() == 0 else []
    command += ["--metrics", f"inet:127.0.0.1:{metrics_port}", DOMAIN, str(secrets)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while f":{reverse} as " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield forward, metrics_port, log
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)


def test_under_socket_activation(activated: tuple[int, int, Path]) -> None:
    forward, metrics_port, log = activated
    with Client(forward) as fwd:  # the first connection starts the daemon
        assert fwd.get(b"alice@example.org").startswith(b"200 SRS0=")
        assert fwd.get(b"bob@example.org").startswith(b"200 SRS0=")
    deadline = time.monotonic() + TIMEOUT  # adopted sockets answer before the daemon is ready
    while "event='ready'" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        samples = scrape(metrics_port)
    except OSError as exc:
        pytest.fail(f"{exc}: {log.read_text()}")
    assert lookups(samples) == {("forward", "tcp_table", "rewritten", "none"): 2}, log.read_text()
