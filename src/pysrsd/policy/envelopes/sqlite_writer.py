"""The SQLite store's writer: one thread, one connection, one transaction per batch of rows.

Contract:
- ``put(key, value, expires, done)`` is called on the event loop and returns at once. The rows
  put during one turn of the loop go to the thread together (``call_soon``: the turn's
  requests have all been read by then); the thread commits everything waiting for it in one
  transaction, then calls each row's ``done`` on the loop: ``None`` once the row is committed,
  a ``StoreError`` if it is not. An answer that names a row therefore never leaves before the
  row is committed (a killed daemon loses no row it answered for), and the commit (about
  40 µs alone) is shared by the rows of a turn.
- No wait for a lock on the event loop: another process holding the write lock (postsrsd 2.x
  on the same file, a backup) makes the thread wait, at most ``BUSY_TIMEOUT`` per
  transaction, then fail the batch; only the forwards that need a row wait, and they fall
  back. Lookups that need no row, and reads (WAL: a writer never blocks a reader), go on.
- Bounded even when the file system hangs (a dead NFS server, a failing disk): rows the thread
  has not settled ``STALL`` seconds after they were handed over are answered as failed by
  ``give_up_stalled`` (housekeeping, each second), so their forwards fall back.
- ``run(work)``: any other write (the purge, the start-up probe) goes through the same thread
  and connection, in order with the rows; its result or ``StoreError`` resolves a future.
- The thread opens the file (creating it and postsrsd 2.x's table if needed, WAL,
  ``synchronous=NORMAL``) on its first job and again after a fault (the file may have been
  replaced), and is started on first use. ``close()`` lets it finish what it was given.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

from pysrsd.policy.envelopes import StoreError

log = structlog.get_logger("pysrsd.envelopes")
T = TypeVar("T")
Done = Callable[[StoreError | None], None]
Row = tuple[str, str | bytes, int, Done]  # key, value, expires, done
Work = Callable[[sqlite3.Connection], object]
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (k TEXT NOT NULL UNIQUE ON CONFLICT REPLACE,"
    " v TEXT NOT NULL, lt INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ltidx ON kv (lt)"
)
BUSY_TIMEOUT = 0.2  # seconds the thread waits for another writer before the batch falls back
STALL = 2.0  # seconds after which rows the thread has not settled are answered as failed
WAL_LIMIT = 4 * 1024 * 1024  # bytes of write-ahead log kept after a checkpoint
CHUNK = 300  # rows per INSERT statement (900 parameters; SQLite allows 32,766)
_STOP = None


def _text(value: bytes) -> str | bytes:
    try:
        return value.decode()  # postsrsd binds text; a non-UTF-8 address is kept as a blob
    except UnicodeDecodeError:
        return value


class _Job:
    """Work for the thread: rows to insert, or a function of the connection."""

    __slots__ = ("future", "given_up", "loop", "rows", "sent", "work")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rows: list[Row],
        work: Work | None = None,
        future: asyncio.Future[object] | None = None,
    ) -> None:
        self.loop = loop
        self.rows = rows
        self.work = work
        self.future = future
        self.sent = loop.time()
        self.given_up = False  # its rows were answered as failed: the thread's word is ignored


class Writer:
    def __init__(self, path: str) -> None:
        self.path = path
        self._rows: list[Row] = []  # put during this turn of the loop
        self._waiting: collections.deque[_Job] = collections.deque()  # rows not yet settled
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None  # the thread's own

    # -- on the event loop -------------------------------------------------------------
    def put(self, key: bytes, value: bytes, expires: int, done: Done) -> None:
        if not self._rows:
            loop = asyncio.get_running_loop()
            loop.call_soon(self._flush, loop)
        self._rows.append((key.decode(), _text(value), expires, done))

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        rows, self._rows = self._rows, []
        if rows:  # (``run`` may have sent them already)
            job = _Job(loop, rows)
            self._waiting.append(job)
            self._submit(job)

    def run(self, work: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """``work(connection)`` on the thread, after the rows already put."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._rows:
            self._flush(loop)
        self._submit(_Job(loop, [], work, future))  # type: ignore[arg-type]
        return future

    def give_up_stalled(self, now: float) -> int:
        """On the loop (housekeeping): answer as failed the rows handed to the thread more than
        ``STALL`` seconds before ``now`` (``loop.time()``), so that a file system that hangs
        (a dead NFS server, a failing disk) holds no forward for ever; they fall back. The
        thread may still commit them later: harmless, their answers have left. How many."""
        count = 0
        while self._waiting and self._waiting[0].sent < now - STALL:
            job = self._waiting.popleft()
            job.given_up = True
            count += len(job.rows)
            error = StoreError(f"sqlite:{self.path}: no answer within {STALL:g} s")
            _settle_rows(job.rows, error)
        return count

    def _settled(self, job: _Job, error: StoreError | None) -> None:
        if job.given_up:
            return
        if self._waiting and self._waiting[0] is job:  # the thread settles in order
            self._waiting.popleft()
        else:  # (a job of a loop that has been closed since is in front)
            with contextlib.suppress(ValueError):
                self._waiting.remove(job)
        _settle_rows(job.rows, error)

    def _submit(self, job: _Job) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="pysrsd-sqlite", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def close(self) -> None:
        """Stop the thread once it has done what it was given (rows put this turn included)."""
        if self._rows:
            with contextlib.suppress(RuntimeError):  # no loop: nobody waits for them
                self._flush(asyncio.get_running_loop())
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread.join()
            self._thread = None

    # -- on the thread -----------------------------------------------------------------
    def _serve(self) -> None:
        stop = False
        while not stop:
            batch = [self._jobs.get()]
            while (last := batch[-1]) is not _STOP and last.work is None:
                try:  # rows: commit them with every batch of rows waiting behind them
                    batch.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is _STOP
            self._do(batch)
        if self._db is not None:
            self._db.close()
            self._db = None

    def _do(self, batch: list[_Job | None]) -> None:
        jobs = [job for job in batch if job is not None]
        rows = [job for job in jobs if job.work is None]
        if rows:
            error = self._commit([row for job in rows for row in job.rows])
            for job in rows:
                _call(job.loop, self._settled, job, error)
        for job in jobs:
            if job.work is not None and job.future is not None:
                _call(job.loop, _resolve, job.future, self._attempt(job.work))

    def _commit(self, rows: list[Row]) -> StoreError | None:
        def insert(db: sqlite3.Connection) -> None:
            chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
            if len(chunks) == 1:  # one statement is one transaction: one step, one GIL release
                _insert(db, chunks[0])
                return
            db.execute("BEGIN IMMEDIATE")  # the write lock first, waiting at most BUSY_TIMEOUT
            try:
                for chunk in chunks:
                    _insert(db, chunk)
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

        result = self._attempt(insert)
        return result if isinstance(result, StoreError) else None

    def _attempt(self, work: Work) -> object:
        """``work``'s result, or the ``StoreError`` it came to (the connection is then closed,
        to be opened again by the next job)."""
        try:
            return work(self._connect())
        except StoreError as exc:
            return exc
        except Exception as exc:  # sqlite3.Error, or a bug: never leave a lookup unanswered
            if self._db is not None:
                self._db.close()
                self._db = None
            return StoreError(f"sqlite:{self.path}: {exc}")

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite:{self.path}: {exc}") from None
        try:
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


def _insert(db: sqlite3.Connection, rows: list[Row]) -> None:
    """One multi-row INSERT: SQLite works on all of them in one call, during which the thread
    does not hold the GIL (``executemany`` would take it back between rows)."""
    db.execute(_statement(len(rows)), [field for row in rows for field in row[:3]])


@functools.cache
def _statement(rows: int) -> str:
    """The INSERT of ``rows`` rows: placeholders only, no value is ever put in the text."""
    return "INSERT INTO kv (k, v, lt) VALUES " + ", ".join(["(?, ?, ?)"] * rows)  # noqa: S608


def _call(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: object) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(callback, *args)


def _settle_rows(rows: list[Row], error: StoreError | None) -> None:
    for row in rows:
        try:
            row[3](error)
        except Exception:  # one answer's bug must not leave the others unanswered
            log.exception("envelope_database_callback_failed")


def _resolve(future: asyncio.Future[object], result: object) -> None:
    if future.done():
        return
    if isinstance(result, StoreError):
        future.set_exception(result)
    else:
        future.set_result(result)
