"""The envelope database through the real daemon: SQLite and a real redis-server, replies in
request order, the database down at start, killed and restarted under load."""

from __future__ import annotations

import hashlib
import os
import pwd
import select
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import (
    DOMAIN,
    Client,
    clock_environment,
    ctl,
    daemon_command,
    require_root,
    running,
    running_daemon,
    secrets_for_nobody,
    write_secrets,
)
from redis_server import RedisServer

B32HEX = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
LONG = b"a-very-long-local-part-of-a-mailing-list-bounce-address+tag@lists.example.org"
DAY = 86400
PASSWORD = "Redis-pw-7f3a"
NOBODY = pwd.getpwnam("nobody").pw_uid
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


def test_a_locked_sqlite_database_stalls_no_other_client(tmp_path: Path) -> None:
    """Another process holds the write lock (postsrsd 2.x sharing the file, a backup): the
    forwards that need a row wait for it, a bounded time, then fall back (the embedded form
    when it fits, 400 when not); meanwhile every other client is answered at once, before any
    of those forwards, and a bounce to a stored sender still reverses (WAL: a writer does not
    block readers)."""
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    db = tmp_path / "envelopes.sqlite"
    with running_daemon(tmp_path, secrets, *database_args(f"sqlite:{db}")) as daemon:
        with Client(daemon.forward_port) as fwd:
            stored = minted(fwd.get(LONG))
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO kv (k, v, lt) VALUES ('HELD@1', 'held@example.com', 1)")
        senders = [b"short%d@example.com" % i if i % 2 else b"%d-" % i + LONG for i in range(12)]
        clients = [Client(daemon.forward_port) for _ in senders]
        try:
            for client, sender in zip(clients, senders, strict=True):
                client.send(b"get " + sender + b"\n")
            with Client(daemon.reverse_port) as rev:
                assert rev.get(b"bob@example.org") == b"500 not%20an%20SRS%20address\n"
                assert rev.get(stored) == b"200 " + LONG + b"\n"
            answered = select.select([c.sock for c in clients], [], [], 0)[0]
            assert answered == []  # all still waiting for the lock
            replies = [client.reply() for client in clients]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            for client in clients:
                client.close()
        for sender, reply in zip(senders, replies, strict=True):
            if sender.startswith(b"short"):  # fits: the embedded form, which needs no row
                assert minted(reply).endswith(b"=example.com=" + sender[:-12] + b"@fwd.example")
            else:
                assert reply.startswith(b"400 "), reply
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            again = minted(fwd.get(b"after-" + LONG))  # the lock is gone: stored again
            assert b"=1=" in again and rev.get(again) == b"200 after-" + LONG + b"\n"


def nobodys_database(open_tmp: Path) -> Path:
    """As root: ``lib/envelopes.sqlite`` (not there yet) in a directory of nobody's, as
    ``pysrsctl setup`` makes /var/lib/pysrsd for the daemon's account."""
    require_root("the daemon runs as nobody, pysrsctl as root")
    lib = open_tmp / "lib"
    lib.mkdir()
    os.chown(lib, NOBODY, -1)
    return lib / "envelopes.sqlite"


def offline_settings(secrets: Path, db: Path) -> list[str]:
    return ["--domain", DOMAIN, "--secrets-file", str(secrets), *database_args(f"sqlite:{db}")]


def test_pysrsctl_as_root_never_creates_or_writes_the_daemons_database(open_tmp: Path) -> None:
    """On a fresh install, pysrsctl forward and reverse run as root leave no file behind (one
    owned by root would be read-only to the daemon); once the daemon has its store, they only
    read it, and every file stays the daemon's."""
    db = nobodys_database(open_tmp)
    lib = db.parent
    secrets = secrets_for_nobody(open_tmp)
    offline = offline_settings(secrets, db)
    fresh = ctl("forward", *offline, LONG.decode())
    assert list(lib.iterdir()) == []
    assert fresh.returncode == 0, fresh.stderr
    assert b"=1=" + postsrsd_key(LONG)[:-2] in fresh.stdout.encode()
    assert "not stored" in fresh.stderr
    with running_daemon(open_tmp, secrets, "--user", "nobody", *database_args(f"sqlite:{db}")) as d:
        with Client(d.forward_port) as fwd:
            address = minted(fwd.get(LONG))
        back = ctl("reverse", *offline, address.decode())
        assert (back.returncode, back.stdout) == (0, LONG.decode() + "\n")
        again = ctl("forward", *offline, LONG.decode())  # stored by the daemon: no note
        assert again.returncode == 0 and "not stored" not in again.stderr
        new = ctl("forward", *offline, "new-" + LONG.decode())
        assert new.returncode == 0 and "not stored" in new.stderr
        assert {path.stat().st_uid for path in lib.iterdir()} == {NOBODY}
        with Client(d.forward_port) as fwd, Client(d.reverse_port) as rev:
            later = minted(fwd.get(b"later-" + LONG))
            assert b"=1=" in later and rev.get(later) == b"200 later-" + LONG + b"\n"
        assert "envelope_database_not_writable" not in d.log_text()


def test_the_daemon_says_at_start_that_it_cannot_write_its_database(open_tmp: Path) -> None:
    """A store the daemon's account cannot write (as an older pysrsctl run as root left it):
    one error line at start names the file, its owner and mode, and the chown that fixes it."""
    db = nobodys_database(open_tmp)
    secrets = secrets_for_nobody(open_tmp)
    with sqlite3.connect(db) as made_by_root:
        made_by_root.execute("CREATE TABLE kv (k TEXT NOT NULL UNIQUE, v TEXT, lt INTEGER)")
    made_by_root.close()
    db.chmod(0o644)
    with running_daemon(open_tmp, secrets, "--user", "nobody", *database_args(f"sqlite:{db}")) as d:
        with Client(d.forward_port) as fwd:
            assert fwd.get(LONG).startswith(b"400 ")  # cannot be stored, does not fit
        log = d.log_text()
    (line,) = [x for x in log.splitlines() if "envelope_database_not_writable" in x]
    assert "level='error'" in line
    assert f"{db} (root:root 0644)" in line
    assert f"chown nobody:nogroup {db}" in line


def test_sqlite_replies_stay_in_request_order(tmp_path: Path) -> None:
    """One write of forwards that wait for their row, between ones answered at once (own
    domain, SRS1 for a foreign SRS0): every reply in request order, every row stored."""
    secrets = write_secrets(tmp_path / "secrets", "s3cret")
    db = tmp_path / "envelopes.sqlite"
    senders = [b"user%d@example.com" % i for i in range(30)]
    instant = [b"bob@" + DOMAIN.encode(), b"SRS0=abcd=TT=example.com=carol@other.example"]
    keys = [k for s in senders for k in (s, instant[len(s) % 2])]
    with running_daemon(tmp_path, secrets, *database_args(f"sqlite:{db}")) as daemon:
        with Client(daemon.forward_port) as fwd:
            fwd.send(b"".join(b"get " + k + b"\n" for k in keys))
            replies = [fwd.reply() for _ in keys]
    for key, reply in zip(keys, replies, strict=True):
        if key in senders:
            assert minted(reply).endswith(b"=1=" + postsrsd_key(key)[:-2] + b"@fwd.example")
        elif key.startswith(b"SRS0"):
            assert reply.startswith(b"200 SRS1="), reply
        else:
            assert reply.startswith(b"500 "), reply
    with sqlite3.connect(db) as check:
        rows = check.execute("SELECT k, v FROM kv").fetchall()
    check.close()
    assert sorted(rows) == sorted((postsrsd_key(s).decode(), s.decode()) for s in senders)


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
    check = ctl("check", *base, "--envelope-database", uri)
    assert check.returncode == 0, check.stderr
    assert "password=***" in check.stdout
    malformed = ctl("check", *base, "--envelope-database", f"redis:/x?password={PASSWORD}")
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


def test_a_password_file_the_daemons_account_cannot_read_stops_it_at_start(
    open_tmp: Path,
) -> None:
    """Checked like the secrets file: root:pysrsd 0640 is the layout; a file the account the
    daemon serves as cannot read is one clear line at start, not a failure at the first
    reconnection."""
    nobodys_database(open_tmp)  # (as root)
    secrets = secrets_for_nobody(open_tmp)
    password = open_tmp / "redis-password"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o600)
    args = ["--user", "nobody", *database_args("redis://127.0.0.1:9/0")]
    args += ["--envelope-database-password-file", str(password)]
    with pytest.raises(RuntimeError, match="exited 2") as failed:
        with running_daemon(open_tmp, secrets, *args):
            pass
    named = "is not readable by nobody (uid 65534) and group nogroup (gid 65534), the account"
    assert f"envelope-database-password-file: {password} {named}" in str(failed.value)
    assert PASSWORD not in str(failed.value)


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
