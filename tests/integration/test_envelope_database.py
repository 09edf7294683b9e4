"""The envelope database through the real daemon: SQLite and a real redis-server, replies in
request order, the database down at start, killed and restarted under load."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    DOMAIN,
    Client,
    clock_environment,
    daemon_command,
    pysrsctl,
    running,
    running_daemon,
    write_secrets,
)
from redis_server import RedisServer

B32HEX = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
LONG = b"a-very-long-local-part-of-a-mailing-list-bounce-address+tag@lists.example.org"
DAY = 86400
PASSWORD = "Redis-pw-7f3a"
TTL = 21 * DAY


def postsrsd_key(address: bytes) -> bytes:
    number = int.from_bytes(hashlib.sha1(address).digest(), "big")
    return "".join(B32HEX[(number >> (5 * (31 - i))) & 31] for i in range(32)).encode() + b"@1"


def database_args(uri: str, mode: str = "database") -> list[str]:
    return ["--original-envelope", mode, "--envelope-database", uri]


def minted(reply: bytes) -> bytes:
    assert reply.startswith(b"200 "), reply
    return reply[4:].rstrip(b"\n")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_sqlite_database_mode(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    db = tmp_path / "envelopes.sqlite"
    with running_daemon(tmp_path, secrets, *database_args(f"sqlite:{db}")) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            address = minted(fwd.get(b"alice@example.com"))
            assert address.endswith(
                b"=1=" + postsrsd_key(b"alice@example.com")[:-2] + b"@fwd.example"
            )
            assert rev.get(address) == b"200 alice@example.com\n"
    assert db.exists()


def test_redis_replies_stay_in_request_order(tmp_path: Path, redis: RedisServer) -> None:
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    with running_daemon(tmp_path, secrets, *database_args(redis.uri)) as daemon:
        senders = [b"user%d@example.com" % i for i in range(40)]
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            addresses = [minted(fwd.get(s)) for s in senders]
            assert redis.get(b"PostSRSd/" + postsrsd_key(senders[0])) == senders[0]
            ttl = redis.command(b"TTL", b"PostSRSd/" + postsrsd_key(senders[0]))
            assert ttl is not None and TTL - 60 < int(ttl[1:]) <= TTL + DAY  # to the day's end
            # one write: database reverses interleaved with instant not-SRS answers
            keys = [
                k for pair in zip(addresses, [b"plain@x.example"] * 40, strict=True) for k in pair
            ]
            rev.send(b"".join(b"get " + k + b"\n" for k in keys))
            replies = [rev.reply() for _ in keys]
        expected = [
            r for s in senders for r in (b"200 " + s + b"\n", b"500 not%20an%20SRS%20address\n")
        ]
        assert replies == expected


def test_redis_keeps_a_sender_until_its_address_stops_verifying(
    tmp_path: Path, redis: RedisServer
) -> None:
    """Minted at 01:00 (the daemon under libfaketime), the address verifies to the end of the
    day 21 days later: the key's TTL runs to then, 21 days and 23 hours, not 21 days."""
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    one_am = (int(time.time()) // DAY + 3) * DAY + 3600
    argv = daemon_command(secrets, *database_args(redis.uri))
    with running(tmp_path, argv, clock_environment(one_am)) as daemon:
        with Client(daemon.forward_port) as fwd:
            minted(fwd.get(b"alice@example.com"))
    ttl = redis.command(b"TTL", b"PostSRSd/" + postsrsd_key(b"alice@example.com"))
    assert ttl is not None
    assert TTL + 22 * 3600 < int(ttl[1:]) <= TTL + 23 * 3600


def test_a_redis_password_in_the_uri_is_never_shown(tmp_path: Path, redis: RedisServer) -> None:
    """redis-py takes ``?password=`` in the URI: it works, and neither the log, nor pysrsctl
    check, nor an error shows it; the log says where the password belongs instead."""
    redis.command(b"CONFIG", b"SET", b"requirepass", PASSWORD.encode())
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    uri = f"redis://127.0.0.1:{redis.port}/0?password={PASSWORD}"
    with running_daemon(tmp_path, secrets, *database_args(uri)) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            assert rev.get(minted(fwd.get(LONG))) == b"200 " + LONG + b"\n"
        log = daemon.log_text()
    assert PASSWORD not in log
    assert "envelope_database_password_in_uri" in log and "password=***" in log
    base = ["--domain", DOMAIN, "--secrets-file", str(secrets), "--original-envelope", "auto"]
    check = pysrsctl("check", *base, "--envelope-database", uri)
    assert check.returncode == 0, check.stderr
    assert "password=***" in check.stdout
    malformed = pysrsctl("check", *base, "--envelope-database", f"redis:/x?password={PASSWORD}")
    assert malformed.returncode == 2 and "envelope-database" in malformed.stderr
    for shown in (log, check.stdout, check.stderr, malformed.stderr):
        assert PASSWORD not in shown


def test_the_redis_password_from_its_file(tmp_path: Path, redis: RedisServer) -> None:
    redis.command(b"CONFIG", b"SET", b"requirepass", PASSWORD.encode())
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    password = tmp_path / "redis-password"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o640)
    args = [*database_args(redis.uri), "--envelope-database-password-file", str(password)]
    with running_daemon(tmp_path, secrets, *args) as daemon:
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            assert rev.get(minted(fwd.get(LONG))) == b"200 " + LONG + b"\n"
        log = daemon.log_text()
    assert "envelope_database_unavailable" not in log and "password" not in log
    assert PASSWORD not in log


def test_redis_down_at_start_then_back(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)  # not started
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    with running_daemon(tmp_path, secrets, *database_args(redis.uri)) as daemon:
        assert "envelope_database_unavailable" in daemon.log_text()
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            short = minted(fwd.get(b"alice@example.com"))
            assert short.endswith(b"=example.com=alice@" + DOMAIN.encode())  # embedded
            assert rev.get(short) == b"200 alice@example.com\n"
            assert fwd.get(LONG).startswith(b"400 ")  # does not fit in 64 octets
            redis.start()
            try:
                address = minted(fwd.get(LONG))
                assert rev.get(address) == b"200 " + LONG + b"\n"
                redis.kill()
                assert rev.get(address).startswith(b"400 ")  # never 500: no bounce lost
            finally:
                redis.stop()


def _worker(port_f: int, port_r: int, wid: int, stop: threading.Event, log: list[str]) -> None:
    with Client(port_f, timeout=15) as fwd, Client(port_r, timeout=15) as rev:
        i = 0
        while not stop.is_set():
            sender = b"w%d-%d-" % (wid, i) + LONG
            i += 1
            reply = fwd.get(sender)
            if reply.startswith(b"400 "):
                log.append("fwd-400")
                continue
            if not reply.startswith(b"200 SRS0="):
                log.append(f"wrong forward {reply!r}")
                continue
            back = rev.get(reply[4:].rstrip(b"\n"))
            if back == b"200 " + sender + b"\n":
                log.append("ok")
            elif back.startswith(b"400 "):
                log.append("rev-400")
            else:
                log.append(f"wrong reverse {back!r} for {sender!r}")


def test_redis_killed_and_restarted_under_load(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path, persistent=True).start()
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    try:
        with running_daemon(tmp_path, secrets, *database_args(redis.uri, "auto")) as daemon:
            stop = threading.Event()
            logs: list[list[str]] = [[] for _ in range(8)]
            threads = [
                threading.Thread(
                    target=_worker,
                    args=(daemon.forward_port, daemon.reverse_port, n, stop, logs[n]),
                )
                for n in range(8)
            ]
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            redis.kill()
            time.sleep(1.0)
            redis.start()
            before = sum(len(x) for x in logs)
            time.sleep(1.5)
            stop.set()
            for thread in threads:
                thread.join(30)
            assert not any(t.is_alive() for t in threads), "a lookup got no reply"
            outcomes = [o for x in logs for o in x]
            assert [o for o in outcomes if o.startswith("wrong")] == []
            assert outcomes.count("fwd-400") + outcomes.count("rev-400") > 0  # it was down
            recovered = [x[-5:] for x in logs]  # the last lookups of each client, after restart
            assert all(o == "ok" for tail in recovered for o in tail), recovered
            assert sum(len(x) for x in logs) > before
            print(f"outcomes: { {k: outcomes.count(k) for k in set(outcomes)} }")
    finally:
        redis.stop()
