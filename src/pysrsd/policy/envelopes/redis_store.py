"""Redis envelope store (redis-py's asyncio client), postsrsd 2.x's key space.

Keys are ``PostSRSd/`` + alias (``PostSRSd/KEY@1``), written with ``SETEX`` and the TTL that
ends when the SRS address stops verifying (the daemon's clock, not Redis's), so Redis expires
them itself and several daemons on several hosts (pysrsd or
postsrsd 2.x) can share one server. Network I/O is awaited, never done on the loop's
synchronous path.

Faults: every Redis or socket error becomes ``StoreError``. Timeouts are short
(``TIMEOUT``): a lookup waiting on a dead server holds a Postfix process, and Postfix retries
a 400 anyway. The pool reconnects by itself once the server is back (one retry on a fresh
connection, for pooled connections the restart broke), so no restart of the daemon is needed.
At most ``MAX_CONNECTIONS`` connections are opened; more concurrent lookups wait for one.
"""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from pysrsd.config.database_uri import display
from pysrsd.policy.envelopes import AsyncStore, StoreError

PREFIX = b"PostSRSd/"
TIMEOUT = 1.0  # seconds, for connecting and for each reply
MAX_CONNECTIONS = 32


class RedisStore(AsyncStore):
    def __init__(self, uri: str, clock: Callable[[], float], password: str | None = None) -> None:
        """``password``: from the password file (a password in ``uri`` wins in redis-py, so
        ``open_store`` refuses both); ``ValueError`` for a URI redis-py cannot take."""
        self.uri = display(uri)  # for messages: never the password
        self._clock = clock
        pool = BlockingConnectionPool.from_url(
            uri,
            password=password,
            max_connections=MAX_CONNECTIONS,
            timeout=TIMEOUT,  # waiting for a free connection
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._redis = Redis(connection_pool=pool)

    async def get(self, key: bytes) -> bytes | None:
        try:
            value = await self._redis.get(PREFIX + key)
        except (RedisError, OSError) as exc:
            raise StoreError(f"{self.uri}: {exc}") from None
        if not value:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    async def put(self, key: bytes, value: bytes, expires: int) -> None:
        ttl = max(1, expires - int(self._clock()))
        try:
            await self._redis.setex(PREFIX + key, ttl, value)
        except (RedisError, OSError) as exc:
            raise StoreError(f"{self.uri}: {exc}") from None

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise StoreError(f"{self.uri}: {exc}") from None

    async def close(self) -> None:
        await self._redis.aclose()
