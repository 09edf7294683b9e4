"""``EnvelopeDatabase``: a store over the daemon's life: probe at start, purge, report faults once.

- ``open_database(settings, clock)``: the database the settings name, or None in embedded
  mode; ``open_store(uri, clock, password)``: its store (a backend module is imported only
  when named: Redis's client is an optional extra). The password comes from
  ``envelope-database-password-file``; one left in the URI is warned about at start, and a URI
  is only ever shown with its credentials hidden (``config.database_uri.display``).

- ``probe()`` (at start): reports whether the database answers, and for SQLite whether the
  daemon's account can write it (an error naming each file, its owner and mode, and the
  ``chown`` that fixes it). A database that is down is logged and the daemon serves anyway
  (forward falls back to the embedded form, reverse of a database address answers 400) until
  it comes back; nothing needs a restart.
- ``tick()`` (each housekeeping second): SQLite rows past their expiry are deleted in batches
  of ``PURGE_BATCH`` every ``PURGE_INTERVAL`` seconds, a batch per tick until none is left, on
  the store's writer thread (the loop only starts it and logs the result), so the file stays
  bounded without a stall. Redis expires its keys itself (SETEX).
- ``Health`` turns a stream of faults into two log lines: the first failure (warning) and the
  recovery (info), with the count of failed operations in between.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import structlog

from pysrsd.config.database_uri import SETTING, carries_password, display, load_password
from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.policy.envelopes import AsyncStore, LocalStore, NotWritable, Store, StoreError

log = structlog.get_logger("pysrsd.envelopes")
PURGE_INTERVAL = 600.0  # seconds between purges of a SQLite store
PROBE_TIMEOUT = 5.0  # seconds the start-up probe of a SQLite store may take (a hung disk)
# Rows per housekeeping tick (one a second while rows are due). Rows expire at the pace they
# were written max-age days before, so the purge only has to keep up with that: 1,000 rows a
# second is 86 million a day. A batch runs on the writer thread, but holds the write lock
# (about 13 ms for 1,000 rows), and the forwards of those milliseconds wait behind it.
PURGE_BATCH = 1000


class Health:
    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0

    def failed(self, operation: str, exc: StoreError) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning("envelope_database_failed", operation=operation, error=str(exc))
        else:
            log.debug("envelope_database_failed", operation=operation, error=str(exc))

    def ok(self) -> None:
        if self.failures:
            log.info("envelope_database_recovered", database=self.name, failed=self.failures)
            self.failures = 0


class EnvelopeDatabase:
    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self.health = Health(name)
        self._next_purge = 0.0
        self._purging: asyncio.Future[int] | None = None

    async def probe(self) -> bool:
        store = self.store
        try:
            if isinstance(store, AsyncStore):
                await store.ping()
            else:  # opens the file, creates the table, tries a write
                await asyncio.wait_for(store.probe(), PROBE_TIMEOUT)
        except TimeoutError:
            self._unavailable(StoreError(f"no answer within {PROBE_TIMEOUT:g} s"))
            return False
        except NotWritable as exc:
            log.error(
                "envelope_database_not_writable",
                database=self.name,
                cannot_write=", ".join(exc.problems),
                advice=exc.advice,
                effect="serving; forwards that would store a sender fall back to embedded "
                "addresses (400 when too long) until it is writable",
            )
            self.health.failures = 1
            return False
        except StoreError as exc:
            self._unavailable(exc)
            return False
        log.info("envelope_database", database=self.name)
        return True

    def _unavailable(self, exc: StoreError) -> None:
        log.error(
            "envelope_database_unavailable",
            database=self.name,
            error=str(exc),
            effect="serving; forward falls back to embedded addresses, "
            "reverse of database addresses answers 400 until it is back",
        )
        self.health.failures = 1

    def tick(self, now: float) -> asyncio.Future[int] | None:
        """Answer the writes that are stuck (``give_up_stalled``); start a purge of expired
        rows if it is time and none is running: the future says how many rows it deleted
        (None: no purge now)."""
        store = self.store
        if isinstance(store, AsyncStore):
            return None
        store.give_up_stalled(now)
        if now < self._next_purge or self._purging is not None:
            return None
        self._purging = purging = store.purge(PURGE_BATCH)
        purging.add_done_callback(functools.partial(self._purged, now))
        return purging

    def _purged(self, started: float, purging: asyncio.Future[int]) -> None:
        self._purging = None
        error = None if purging.cancelled() else purging.exception()
        if purging.cancelled() or error is not None:
            if isinstance(error, StoreError):
                self.health.failed("purge", error)
            self._next_purge = started + 1.0  # try again next tick
            return
        deleted = purging.result()
        self._next_purge = started if deleted >= PURGE_BATCH else started + PURGE_INTERVAL
        if deleted:
            log.info("envelope_database_purged", rows=deleted)

    async def close(self) -> None:
        store = self.store
        if isinstance(store, AsyncStore):
            await store.close()
        else:
            assert isinstance(store, LocalStore)
            store.close()


def open_database(
    settings: Settings, clock: Callable[[], float], *, read_only: bool = False
) -> EnvelopeDatabase | None:
    """The envelope database when a mode uses one; opening does no I/O (see ``probe``) but
    reading the password file, a ``ConfigError`` if it cannot be read. ``read_only``: for
    pysrsctl, which must never create or write the daemon's store (as root, it would leave a
    file the daemon cannot write)."""
    if settings.original_envelope == "embedded":
        return None
    uri = settings.envelope_database
    password = None
    path = settings.envelope_database_password_file
    if path is not None:
        loaded = load_password(path)
        password = loaded.value
        if loaded.too_open:
            log.warning(
                "envelope_database_password_file_too_open",
                path=str(path),
                advice="chown root:pysrsd, chmod 0640: the daemon's group reads it, no one else",
            )
    elif carries_password(uri):
        log.warning(
            "envelope_database_password_in_uri",
            database=display(uri),
            advice=f"config files, the environment and the command line are readable by others: "
            f"put the password in {SETTING} (root:pysrsd 0640) and take it out of the URI",
        )
    return EnvelopeDatabase(open_store(uri, clock, password, read_only=read_only), display(uri))


def open_store(
    uri: str, clock: Callable[[], float], password: str | None = None, *, read_only: bool = False
) -> Store:
    """The store ``uri`` names (``sqlite:PATH`` or ``redis://HOST:PORT[/DB]``)."""
    shown = display(uri)
    if uri.startswith("sqlite:"):
        if password is not None:
            raise ConfigError(f"{SETTING}: a password is only for Redis, not {shown}")
        from pysrsd.policy.envelopes.sqlite_store import SqliteStore

        return SqliteStore(uri[len("sqlite:") :], clock, read_only=read_only)
    if uri.startswith("redis://"):
        if password is not None and carries_password(uri):
            raise ConfigError(f"{SETTING}: {shown} holds a password too: keep it in the file only")
        try:
            from pysrsd.policy.envelopes.redis_store import RedisStore
        except ImportError as exc:  # the "redis" extra is not installed
            raise ConfigError(
                f"envelope-database: {shown} needs the redis client (contrib/install.sh and the"
                " Debian package install it; or pip install 'pysrsd[redis]')"
            ) from exc
        try:
            return RedisStore(uri, clock, password)
        except ValueError as exc:  # redis-py's own check of the URI's options
            raise ConfigError(f"envelope-database: {shown}: {exc}") from None
    raise ConfigError(f"envelope-database: {shown!r}: expected sqlite:PATH or redis://HOST:PORT")
