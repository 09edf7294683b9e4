"""``EnvelopeDatabase``: a store over the daemon's life: probe at start, purge, report faults once.

- ``open_store(uri, clock)``: the store the ``envelope_database`` setting names (a backend
  module is imported only when named: Redis's client is an optional extra).

- ``probe()`` (at start): reports whether the database answers. A database that is down is
  logged and the daemon serves anyway (forward falls back to the embedded form, reverse of a
  database address answers 400) until it comes back; nothing needs a restart.
- ``tick()`` (each housekeeping second): SQLite rows past their expiry are deleted in batches
  of ``PURGE_BATCH`` every ``PURGE_INTERVAL`` seconds, a batch per tick until none is left, so
  the file stays bounded without a long stall. Redis expires its keys itself (SETEX).
- ``Health`` turns a stream of faults into two log lines: the first failure (warning) and the
  recovery (info), with the count of failed operations in between.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pysrsd.errors import ConfigError
from pysrsd.policy.envelopes import AsyncStore, Store, StoreError, SyncStore

log = structlog.get_logger("pysrsd.envelopes")
PURGE_INTERVAL = 600.0  # seconds between purges of a SQLite store
# Rows per housekeeping tick (one a second while rows are due). Rows expire at the pace they
# were written max-age days before, so the purge only has to keep up with that: 1,000 rows a
# second is 86 million a day. Measured: 5,000 rows held the event loop for 65 ms (lookups
# waited up to 195 ms); 1,000 hold it for about 13 ms.
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

    async def probe(self) -> bool:
        store = self.store
        try:
            if isinstance(store, AsyncStore):
                await store.ping()
            else:
                store.purge(0)  # opens the file and creates the table if needed
        except StoreError as exc:
            log.error(
                "envelope_database_unavailable",
                database=self.name,
                error=str(exc),
                effect="serving; forward falls back to embedded addresses, "
                "reverse of database addresses answers 400 until it is back",
            )
            self.health.failures = 1
            return False
        log.info("envelope_database", database=self.name)
        return True

    def tick(self, now: float) -> int:
        """Purge expired rows if it is time; return how many were deleted."""
        store = self.store
        if isinstance(store, AsyncStore) or now < self._next_purge:
            return 0
        try:
            deleted = store.purge(PURGE_BATCH)
        except StoreError as exc:
            self.health.failed("purge", exc)
            self._next_purge = now + 1.0  # try again next tick
            return 0
        self._next_purge = now if deleted >= PURGE_BATCH else now + PURGE_INTERVAL
        if deleted:
            log.info("envelope_database_purged", rows=deleted)
        return deleted

    async def close(self) -> None:
        store = self.store
        if isinstance(store, AsyncStore):
            await store.close()
        else:
            assert isinstance(store, SyncStore)
            store.close()


def open_store(uri: str, clock: Callable[[], float]) -> Store:
    """The store ``uri`` names (``sqlite:PATH`` or ``redis://HOST:PORT[/DB]``)."""
    if uri.startswith("sqlite:"):
        from pysrsd.policy.envelopes.sqlite_store import SqliteStore

        return SqliteStore(uri[len("sqlite:") :], clock)
    if uri.startswith("redis://"):
        try:
            from pysrsd.policy.envelopes.redis_store import RedisStore
        except ImportError as exc:  # the "redis" extra is not installed
            raise ConfigError(
                f"envelope_database: {uri} needs the redis client (pip install pysrsd[redis])"
            ) from exc
        return RedisStore(uri, clock)
    raise ConfigError(f"envelope_database: {uri!r}: expected sqlite:PATH or redis://HOST:PORT")
