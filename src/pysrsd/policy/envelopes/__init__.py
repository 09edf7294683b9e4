"""The envelope database: where a forwarded sender is kept when it is not embedded.

Contract (the formats are postsrsd 2.x's, so that both daemons can share one database):
- ``alias(address)`` is ``BASE32HEX(SHA1(address)) + "@1"``: 32 characters from
  ``0-9A-V`` (RFC 4648 section 7, no padding for 20 bytes), over the address bytes exactly as
  received. The engine signs this alias like any sender, giving ``SRS0=HHHH=TT=1=KEY@DOMAIN``;
  the reverse of that address gives the alias back, upper-cased to undo case smashing.
- The whole alias (``KEY@1``) is the database key: SQLite row ``kv(k, v, lt)`` with ``lt`` the
  Unix time the row expires; Redis key ``PostSRSd/KEY@1`` set with ``SETEX`` and the TTL that
  ends at that time. A row expires when the SRS address that names it stops verifying: at the
  end of day today + max-age (UTC), ``Engine.valid_until()``, not max-age days of seconds after it
  was written (postsrsd 2.x's TTL), which would drop it up to a day before its last bounce.
- A store either answers or raises ``StoreError`` (unreachable, locked, read-only, ...): it
  never turns a fault into "unknown alias", so the policy can answer 400 instead of 500.

Two kinds of store: ``LocalStore`` (SQLite, a local file: reads take microseconds on the
event loop; writes go to a thread of their own, committed together per turn of the loop, and
report back on the loop) and ``AsyncStore`` (Redis, network I/O: awaited). Neither waits for a
lock or the network on the event loop. ``database.open_store`` picks one from the
``envelope_database`` setting; it never fails because the database is down (the first
operation reports that, and the next one tries again).
"""

from __future__ import annotations

import abc
import asyncio
import base64
import hashlib
from collections.abc import Callable

ALIAS_HOST = b"@1"
_BASE32HEX = b"0123456789ABCDEFGHIJKLMNOPQRSTUV"
_ALIAS_LENGTH = 32 + len(ALIAS_HOST)  # base32hex of a 20-byte SHA-1 has no padding


class StoreError(Exception):
    """The database could not do what was asked; the caller answers 400 or falls back."""


class NotWritable(StoreError):
    """The daemon's account cannot write the store: ``problems`` says what, with owner and
    mode (``PATH (owner:group mode)``), ``advice`` how to fix it."""

    def __init__(self, message: str, problems: list[str], advice: str) -> None:
        super().__init__(message)
        self.problems = problems
        self.advice = advice


def alias(address: bytes) -> bytes:
    """postsrsd 2.x's database alias for ``address`` (src/srs.c, postsrsd_forward)."""
    return base64.b32hexencode(hashlib.sha1(address, usedforsecurity=False).digest()) + ALIAS_HOST


def is_alias(address: bytes) -> bool:
    """True for what the reverse of a database SRS address yields: ``KEY@1``, KEY the 32
    base32hex characters of a SHA-1 (any case). postsrsd 2.x takes every ``user@1`` for an
    alias; the key's shape keeps a sender at a domain ``1`` (not a key) an ordinary sender."""
    return (
        len(address) == _ALIAS_LENGTH
        and address.endswith(ALIAS_HOST)
        and address[:-2].upper().translate(None, _BASE32HEX) == b""
    )


class LocalStore(abc.ABC):
    """A store in a local file. A base class, not a ``runtime_checkable`` Protocol:
    ``tables.lookup`` asks ``isinstance`` of every database lookup, and a protocol check costs
    7-12 µs on Python 3.11 against 0.2 µs for an ABC."""

    @abc.abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """On the event loop, never waiting for a lock: the sender stored under ``key`` if it
        has not expired; raises ``StoreError``."""

    @abc.abstractmethod
    def put(
        self, key: bytes, value: bytes, expires: int, done: Callable[[StoreError | None], None]
    ) -> None:
        """Store ``value`` until the Unix time ``expires``; returns at once, and ``done`` is
        called on the event loop once the row is committed (None) or could not be (the
        error)."""

    @abc.abstractmethod
    def give_up_stalled(self, now: float) -> int:
        """Answer as failed the writes waiting longer than their bound (``now``: the loop's
        time); how many."""

    @abc.abstractmethod
    def purge(self, limit: int) -> asyncio.Future[int]:
        """Delete up to ``limit`` expired entries: how many (0: nothing left), or
        ``StoreError``."""

    @abc.abstractmethod
    async def probe(self) -> None:
        """Open (or create) the store and try a write; raise ``StoreError`` if that fails,
        ``NotWritable`` if the daemon's account cannot write it."""

    @abc.abstractmethod
    def close(self) -> None:
        """Once the writes already handed over are done."""


class AsyncStore(abc.ABC):
    """A network store, awaited."""

    @abc.abstractmethod
    async def get(self, key: bytes) -> bytes | None: ...

    @abc.abstractmethod
    async def put(self, key: bytes, value: bytes, expires: int) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ``StoreError`` if the database cannot be reached now."""

    @abc.abstractmethod
    async def close(self) -> None: ...


Store = LocalStore | AsyncStore
