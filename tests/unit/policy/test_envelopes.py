"""Envelope database: postsrsd 2.x's formats (computed here from its documented form, not from
our output), the SQLite store, and the policy of ``original_envelope`` in the tables."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from pysrsd.config.keyring import Keyring
from pysrsd.policy import tables
from pysrsd.policy.envelopes import StoreError, alias, is_alias
from pysrsd.policy.envelopes.database import PURGE_BATCH, EnvelopeDatabase
from pysrsd.policy.envelopes.sqlite_store import SqliteStore
from pysrsd.policy.envelopes.sqlite_writer import STALL, Row, Writer
from pysrsd.policy.exclusions import parse_exclusions
from pysrsd.policy.state import Policy, State
from pysrsd.srs.engine import Engine
from pysrsd.wire.lookup import Answer, Status, Table

NOW = 1_760_000_000.0
DOMAIN = b"fwd.example"
SECRET = b"envelopes unit secret"
DAY = 86400
TTL = 21 * DAY
B32HEX = "0123456789ABCDEFGHIJKLMNOPQRSTUV"  # RFC 4648 section 7
LONG = b"a-very-long-local-part-of-a-mailing-list-bounce-address+tag@lists.example.org"


_OPENED: list[SqliteStore] = []


def opened(path: str, clock: Callable[[], float]) -> SqliteStore:
    """A store closed after the test (Python 3.13 warns of a connection left open)."""
    store = SqliteStore(path, clock)
    _OPENED.append(store)
    return store


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()


def postsrsd_key(address: bytes) -> bytes:
    """BASE32HEX(SHA1(address)) + "@1", from the RFC's definition: 5 bits a character."""
    number = int.from_bytes(hashlib.sha1(address).digest(), "big")  # 160 bits = 32 chars
    chars = [B32HEX[(number >> (5 * (31 - i))) & 31] for i in range(32)]
    return "".join(chars).encode() + b"@1"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make_state(
    mode: str, store: SqliteStore | None, clock: Callable[[], float] = lambda: NOW
) -> State:
    engine = Engine([SECRET], DOMAIN, clock=clock)
    keyring = Keyring((SECRET,), "fp", too_open=False)
    policy = Policy(DOMAIN, False, False, mode)
    envelopes = EnvelopeDatabase(store, "test") if store is not None else None
    if envelopes is not None:
        asyncio.run(envelopes.probe())  # at start, as the daemon does: creates the file
    return State(engine, parse_exclusions(b""), keyring, policy, envelopes)


def answer(state: State, table: Table, key: bytes) -> Answer:
    return tables.ask(state, table, key)


def put(store: SqliteStore, *rows: tuple[bytes, bytes, int]) -> list[StoreError | None]:
    """Each row put as a lookup does it (in one turn of an event loop), once committed."""

    async def commit() -> list[StoreError | None]:
        loop = asyncio.get_running_loop()
        done = [loop.create_future() for _ in rows]
        for (key, value, expires), future in zip(rows, done, strict=True):
            store.put(key, value, expires, future.set_result)
        return [await future for future in done]

    return asyncio.run(commit())


def purge(store: SqliteStore, limit: int) -> int:
    async def run() -> int:
        return await store.purge(limit)

    return asyncio.run(run())


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(b"alice@example.com", id="plain"),
        pytest.param(b"", id="empty"),
        pytest.param(b"Bob@Example.COM", id="case-kept"),
        pytest.param("j\u00f6rg@b\u00fccher.example".encode(), id="utf8"),
    ],
)
def test_alias_is_postsrsd_key(address: bytes) -> None:
    assert alias(address) == postsrsd_key(address)
    assert is_alias(alias(address)) and is_alias(alias(address).lower())


def test_sqlite_schema_is_postsrsd_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "senders.db"
    clock = Clock()
    store = opened(str(path), clock)
    assert put(store, (b"KEY1@1", b"alice@example.com", int(NOW) + TTL)) == [None]
    db = sqlite3.connect(path)
    columns = [(row[1], row[2], row[3]) for row in db.execute("PRAGMA table_info(kv)")]
    assert columns == [("k", "TEXT", 1), ("v", "TEXT", 1), ("lt", "INTEGER", 1)]
    # postsrsd 2.x's own statements (src/database.c) read and write the same rows
    assert db.execute("SELECT v FROM kv WHERE k = ?", ("KEY1@1",)).fetchone() == (
        "alice@example.com",
    )
    assert db.execute("SELECT lt FROM kv").fetchone() == (int(NOW) + TTL,)
    db.execute("INSERT INTO kv (k, v, lt) VALUES (?, ?, ?)", ("KEY2@1", "bob@ex.org", NOW + 60))
    db.commit()
    db.close()
    assert store.get(b"KEY2@1") == b"bob@ex.org"
    clock.now += 61
    assert store.get(b"KEY2@1") is None  # expired, even before a purge
    assert purge(store, PURGE_BATCH) == 1
    assert store.get(b"KEY1@1") == b"alice@example.com"


def test_unreachable_sqlite_raises_store_error(tmp_path: Path) -> None:
    store = opened(str(tmp_path / "missing-dir" / "db"), Clock())
    (error,) = put(store, (b"K@1", b"a@b", int(NOW) + TTL))
    assert isinstance(error, StoreError)
    with pytest.raises(StoreError):
        store.get(b"K@1")


def test_database_mode_stores_every_plain_sender(tmp_path: Path) -> None:
    store = opened(str(tmp_path / "db"), Clock())
    state = make_state("database", store)
    sender = b"alice@example.com"
    minted = answer(state, Table.FORWARD, sender)
    assert minted.status is Status.FOUND
    local, _, domain = minted.text.rpartition(b"@")
    tag, _hash, _stamp, host, user = local.split(b"=")
    assert (tag, host, user + b"@" + host, domain) == (b"SRS0", b"1", postsrsd_key(sender), DOMAIN)
    assert store.get(postsrsd_key(sender)) == sender
    assert answer(state, Table.REVERSE, minted.text) == Answer(Status.FOUND, sender)
    smashed = minted.text.lower()  # case-smashing MTA: the key is upper-cased again
    assert answer(state, Table.REVERSE, smashed) == Answer(Status.FOUND, sender)


def test_a_forward_is_answered_only_once_its_row_is_committed(tmp_path: Path) -> None:
    """The rows of one turn of the loop are committed together, and no answer is known before
    its row is: whoever reads the file then (postsrsd, the daemon after a restart) has it."""
    store = opened(str(tmp_path / "db"), Clock())
    state = make_state("database", store)
    other = sqlite3.connect(store.path)
    senders = [b"user%d@example.com" % i for i in range(20)]

    async def forward_all() -> list[tuple[str] | None]:
        asked = [tables.lookup(state, Table.FORWARD, sender) for sender in senders]
        seen = []
        for sender, result in zip(senders, asked, strict=True):
            answer = result if isinstance(result, Answer) else await result
            assert answer.status is Status.FOUND and b"=1=" in answer.text
            key = alias(sender).decode()
            seen.append(other.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone())
        return seen

    assert asyncio.run(forward_all()) == [(sender.decode(),) for sender in senders]
    other.close()


def test_a_hung_file_system_holds_no_forward_for_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite does not come back (a dead NFS server, a failing disk): the forwards waiting for
    their rows are answered at the next housekeeping tick after STALL seconds, with the
    fallback (the embedded form when it fits, 400 when not)."""
    store = opened(str(tmp_path / "db"), Clock())
    state = make_state("database", store)
    assert state.envelopes is not None
    envelopes = state.envelopes
    release = threading.Event()
    commit = Writer._commit

    def hanging(self: Writer, rows: list[Row]) -> StoreError | None:
        release.wait()
        return commit(self, rows)

    monkeypatch.setattr(Writer, "_commit", hanging)

    async def forward_both() -> list[Answer]:
        short = tables.lookup(state, Table.FORWARD, b"alice@example.com")
        long_ = tables.lookup(state, Table.FORWARD, LONG)
        assert isinstance(short, asyncio.Future) and isinstance(long_, asyncio.Future)
        await asyncio.sleep(0.05)
        assert not short.done() and not long_.done()  # the thread hangs
        envelopes.tick(asyncio.get_running_loop().time() + STALL + 1)  # housekeeping, later
        try:  # (a guard, so that a regression fails instead of hanging)
            return await asyncio.wait_for(asyncio.gather(short, long_), 10)
        finally:
            release.set()

    short, long_ = asyncio.run(forward_both())
    assert short.text.endswith(b"=example.com=alice@fwd.example")
    assert long_.status is Status.TEMP_FAIL


def test_database_mode_leaves_srs_senders_to_srs1(tmp_path: Path) -> None:
    store = opened(str(tmp_path / "db"), Clock())
    state = make_state("database", store)
    result = answer(state, Table.FORWARD, b"SRS0=abcd=TT=example.com=alice@other.example")
    assert result.status is Status.FOUND and result.text.startswith(b"SRS1=")
    with closing(sqlite3.connect(store.path)) as db:
        assert db.execute("SELECT count(*) FROM kv").fetchone() == (0,)


def test_auto_mode_stores_only_what_does_not_fit(tmp_path: Path) -> None:
    store = opened(str(tmp_path / "db"), Clock())
    state = make_state("auto", store)
    short = answer(state, Table.FORWARD, b"alice@example.com")
    assert short.text.endswith(b"=example.com=alice@fwd.example")
    long_ = answer(state, Table.FORWARD, LONG)
    assert len(long_.text.rpartition(b"@")[0]) <= 64
    assert long_.text.split(b"=")[-1] == postsrsd_key(LONG).rpartition(b"@")[0] + b"@" + DOMAIN
    assert answer(state, Table.REVERSE, long_.text) == Answer(Status.FOUND, LONG)
    with closing(sqlite3.connect(store.path)) as db:
        rows = db.execute("SELECT v FROM kv").fetchall()
    assert rows == [(LONG.decode(),)]


def test_database_down_forward_falls_back_or_defers(tmp_path: Path) -> None:
    state = make_state("database", opened(str(tmp_path / "no" / "db"), Clock()))
    short = answer(state, Table.FORWARD, b"alice@example.com")
    assert short.status is Status.FOUND
    assert short.text.endswith(b"=example.com=alice@fwd.example")  # embedded: fits
    assert answer(state, Table.FORWARD, LONG).status is Status.TEMP_FAIL  # > 64 octets


def test_database_down_reverse_is_temp_fail_never_not_found(tmp_path: Path) -> None:
    good = make_state("database", opened(str(tmp_path / "db"), Clock()))
    minted = answer(good, Table.FORWARD, b"alice@example.com").text
    down = make_state("database", opened(str(tmp_path / "no" / "db"), Clock()))
    assert answer(down, Table.REVERSE, minted).status is Status.TEMP_FAIL
    # Without a database at all, a database address can never be answered: not found.
    embedded_only = make_state("embedded", None)
    assert answer(embedded_only, Table.REVERSE, minted).status is Status.NOT_FOUND


def test_unknown_alias_is_not_found(tmp_path: Path) -> None:
    writer = make_state("database", opened(str(tmp_path / "a"), Clock()))
    minted = answer(writer, Table.FORWARD, b"alice@example.com").text
    reader = make_state("database", opened(str(tmp_path / "b"), Clock()))
    assert answer(reader, Table.REVERSE, minted) == Answer(Status.NOT_FOUND, b"unknown alias")


def test_database_comes_back_without_restart(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    state = make_state("database", opened(str(folder / "db"), Clock()))
    assert answer(state, Table.FORWARD, LONG).status is Status.TEMP_FAIL
    folder.mkdir()
    minted = answer(state, Table.FORWARD, LONG)
    assert minted.status is Status.FOUND
    assert answer(state, Table.REVERSE, minted.text) == Answer(Status.FOUND, LONG)


def test_a_stored_sender_reverses_as_long_as_its_address_verifies(tmp_path: Path) -> None:
    """A day stamp verifies to the end of day N + max-age (UTC), so an address minted at 01:00
    still reverses at 02:00 twenty-one days later: its row must still be there."""
    day = int(NOW) // DAY
    clock = Clock()
    clock.now = day * DAY + 3600  # 01:00
    store = opened(str(tmp_path / "db"), clock)
    state = make_state("database", store, clock)
    minted = answer(state, Table.FORWARD, LONG).text
    clock.now = (day + 21) * DAY + 2 * 3600  # 02:00, max-age days later
    assert answer(state, Table.REVERSE, minted) == Answer(Status.FOUND, LONG)
    clock.now = (day + 21) * DAY + DAY - 1  # the last second its stamp verifies
    assert answer(state, Table.REVERSE, minted) == Answer(Status.FOUND, LONG)
    assert purge(store, PURGE_BATCH) == 0
    clock.now = (day + 22) * DAY  # the stamp has expired, and the row with it
    assert answer(state, Table.REVERSE, minted).text == b"expired or invalid day stamp"
    assert purge(store, PURGE_BATCH) == 1


def test_purge_runs_periodically_and_in_batches(tmp_path: Path) -> None:
    clock = Clock()
    store = opened(str(tmp_path / "db"), clock)
    rows = [(b"K%d@1" % i, b"a@b", int(NOW) + 60) for i in range(PURGE_BATCH + 10)]
    put(store, *rows, (b"KEEP@1", b"c@d", int(NOW) + TTL))
    database = EnvelopeDatabase(store, "test")
    clock.now += 61

    async def ticks() -> list[int | None]:
        deleted = []
        for now in (1000.0, 1001.0, 1002.0, 1003.0, 1603.0):
            purging = database.tick(now)
            deleted.append(None if purging is None else await purging)
        return deleted

    # a batch a tick while rows are due, then none until PURGE_INTERVAL has passed
    assert asyncio.run(ticks()) == [PURGE_BATCH, 10, None, None, 0]
    assert store.get(b"KEEP@1") == b"c@d"
