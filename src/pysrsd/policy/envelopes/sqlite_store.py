"""SQLite envelope store (standard library ``sqlite3``), postsrsd 2.x's schema.

Schema (postsrsd src/database.c): ``kv(k TEXT NOT NULL UNIQUE ON CONFLICT REPLACE, v TEXT NOT
NULL, lt INTEGER NOT NULL)`` with index ``ltidx`` on ``lt``; ``lt`` is the Unix time a row
expires. Both daemons can open the same file: the table is created only if missing, rows are
written in postsrsd's form (text when the address is UTF-8), and reads ignore rows whose ``lt``
has passed even before they are purged.

Two connections. Reads run on the event loop (a few microseconds): a connection that never
creates the file and never waits for a lock (``timeout=0``: in WAL mode a writer does not
block readers, so only an exclusive lock, as after a crash, makes a read fail at once, and the
reverse answers 400). Writes (rows, the purge, the start-up probe) go to ``sqlite_writer``'s
thread, which commits the rows of each turn of the loop together and waits for another
process's lock there, never on the loop. A file that cannot be opened is reported by each
operation (``StoreError``) and opened again by the next one: the daemon starts without it.

``read_only`` (pysrsctl): the file is opened read-only and never created, and nothing is
written: an offline command run as root must not leave the daemon a file it cannot write.
``probe()`` says, beside whether a test write works, what of the file, its directory and its
``-wal`` and ``-shm`` files the daemon's account cannot write (``NotWritable``).
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from pysrsd.config.files import Account
from pysrsd.policy.envelopes import LocalStore, NotWritable, StoreError
from pysrsd.policy.envelopes.sqlite_writer import Done, Writer

_PROBE = "INSERT INTO kv (k, v, lt) VALUES ('pysrsd-probe@0', '', 0)"


class SqliteStore(LocalStore):
    def __init__(self, path: str, clock: Callable[[], float], *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._clock = clock
        self._db: sqlite3.Connection | None = None  # reads, on the event loop
        self._writer = Writer(path)
        mode = "ro" if read_only else "rw"  # never "rwc": only the writer creates the file
        self._uri = f"file:{quote(os.path.abspath(path))}?mode={mode}"

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            db = sqlite3.connect(self._uri, uri=True, timeout=0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite:{self.path}: {exc}") from None
        db.text_factory = bytes
        self._db = db
        return db

    def get(self, key: bytes) -> bytes | None:
        db = self._connect()
        try:
            row = db.execute(
                "SELECT v FROM kv WHERE k = ? AND lt > ?", (key.decode(), int(self._clock()))
            ).fetchone()
        except sqlite3.Error as exc:
            db.close()  # reopen next time: the file may have been replaced
            self._db = None
            raise StoreError(f"sqlite:{self.path}: {exc}") from None
        if row is None or not row[0]:
            return None
        value = row[0]
        return value if isinstance(value, bytes) else str(value).encode()

    def put(self, key: bytes, value: bytes, expires: int, done: Done) -> None:
        if self.read_only:
            done(StoreError(f"sqlite:{self.path}: opened read-only"))
            return
        self._writer.put(key, value, expires, done)

    def give_up_stalled(self, now: float) -> int:
        return self._writer.give_up_stalled(now)

    def purge(self, limit: int) -> asyncio.Future[int]:
        def delete(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE lt <= ? LIMIT ?)",
                (int(self._clock()), limit),
            )
            return max(cursor.rowcount, 0)

        return self._writer.run(delete)

    async def probe(self) -> None:
        def write_test(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(_PROBE)
            finally:
                db.execute("ROLLBACK")

        try:
            await self._writer.run(write_test)
            error = None
        except StoreError as exc:
            error = exc
        problems = unwritable(Path(self.path), Account.current())
        if problems:  # with or without an error: a -wal file the test did not need, say
            message = str(error or f"sqlite:{self.path}: not writable by this account")
            raise NotWritable(message, problems, _advice(self.path)) from None
        if error is not None:
            raise error

    def close(self) -> None:
        self._writer.close()
        if self._db is not None:
            self._db.close()
            self._db = None


def unwritable(path: Path, account: Account) -> list[str]:
    """What of ``path``, its ``-wal`` and ``-shm`` files (those that exist) and its directory
    (SQLite creates and deletes those two there) ``account`` cannot write: each as ``PATH
    (owner:group mode)``."""
    found = []
    candidates = [path.parent, path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    for where in candidates:
        try:
            info = os.stat(where)
        except OSError:
            continue
        bits = os.W_OK | (os.X_OK if where == path.parent else 0)
        if not account.may(info, bits):
            owner = _names(info.st_uid, info.st_gid)
            found.append(f"{where} ({owner} {stat.S_IMODE(info.st_mode):04o})")
    return found


def _advice(path: str) -> str:
    me = _names(os.geteuid(), os.getegid())  # the daemon's account, after the privilege drop
    return (
        f"run 'chown {me} {path} {path}-wal {path}-shm' (those that exist) and give {me} "
        f"write access to {os.path.dirname(path) or '.'}: the daemon writes the store, "
        "pysrsctl only reads it"
    )


def _names(uid: int, gid: int) -> str:
    """``user:group`` as ls names them (the number when there is no name)."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return f"{user}:{group}"
