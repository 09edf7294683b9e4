"""SQLite envelope store (standard library ``sqlite3``), postsrsd 2.x's schema.

Schema (postsrsd src/database.c): ``kv(k TEXT NOT NULL UNIQUE ON CONFLICT REPLACE, v TEXT NOT
NULL, lt INTEGER NOT NULL)`` with index ``ltidx`` on ``lt``; ``lt`` is the Unix time a row
expires. Both daemons can open the same file: the table is created only
if missing, rows are written in postsrsd's form (text when the address is UTF-8), and reads
ignore rows whose ``lt`` has passed even before they are purged.

Synchronous on purpose: a local file in WAL mode answers in microseconds, less than a thread
hand-off would cost, so lookups stay on the event loop's synchronous path. Expired rows are
deleted in small batches (``purge``) by the daemon's housekeeping, so a purge never holds the
loop or the write lock for long. A file that cannot be opened is reported by each operation
(``StoreError``) and opened again by the next one: the daemon starts without it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from pysrsd.policy.envelopes import StoreError, SyncStore

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (k TEXT NOT NULL UNIQUE ON CONFLICT REPLACE,"
    " v TEXT NOT NULL, lt INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ltidx ON kv (lt)"
)
BUSY_TIMEOUT = 0.2  # seconds to wait for another writer (postsrsd) before giving up: 400
WAL_LIMIT = 4 * 1024 * 1024  # bytes of write-ahead log kept after a checkpoint


def _text(value: bytes) -> str | bytes:
    try:
        return value.decode()  # postsrsd binds text; a non-UTF-8 address is kept as a blob
    except UnicodeDecodeError:
        return value


class SqliteStore(SyncStore):
    def __init__(self, path: str, clock: Callable[[], float]) -> None:
        self.path = path
        self._clock = clock
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite:{self.path}: {exc}") from None
        try:
            db.text_factory = bytes
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never torn
            # A large purge grew the WAL to 50 MiB, and it kept that size: truncate it back
            # after each checkpoint.
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"sqlite:{self.path}: {exc}") from None
        self._db = db
        return db

    def _fault(self, exc: sqlite3.Error) -> StoreError:
        if self._db is not None:  # reopen next time: the file may have been replaced
            self._db.close()
            self._db = None
        return StoreError(f"sqlite:{self.path}: {exc}")

    def get(self, key: bytes) -> bytes | None:
        db = self._connect()
        try:
            row = db.execute(
                "SELECT v FROM kv WHERE k = ? AND lt > ?", (key.decode(), int(self._clock()))
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._fault(exc) from None
        if row is None or not row[0]:
            return None
        value = row[0]
        return value if isinstance(value, bytes) else str(value).encode()

    def put(self, key: bytes, value: bytes, expires: int) -> None:
        db = self._connect()
        try:
            db.execute(
                "INSERT INTO kv (k, v, lt) VALUES (?, ?, ?)", (key.decode(), _text(value), expires)
            )
        except sqlite3.Error as exc:
            raise self._fault(exc) from None

    def purge(self, limit: int) -> int:
        db = self._connect()
        try:
            cursor = db.execute(
                "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE lt <= ? LIMIT ?)",
                (int(self._clock()), limit),
            )
        except sqlite3.Error as exc:
            raise self._fault(exc) from None
        return max(cursor.rowcount, 0)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
