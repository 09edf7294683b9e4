"""Values exchanged between the wire codecs, the server and the lookup tables.

A codec (``tcp_table``, ``socketmap``) turns bytes into events and answers into bytes; the
server hands each ``Query`` to ``tables`` and each ``Answer`` back to the codec. None of these
types knows a wire format or a socket.

Invariant: for every event a codec emits, exactly one reply is written, in event order
(``Malformed`` events are answered by the codec itself through ``Codec.encode``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Table(enum.Enum):
    """The two lookup tables: sender_canonical_maps and recipient_canonical_maps."""

    FORWARD = "forward"
    REVERSE = "reverse"

    # Members are singletons: identity hashing is correct, and Enum's own __hash__ (a Python
    # call) costs ~0.1 us on every dict lookup of the per-lookup path.
    __hash__ = object.__hash__


class Status(enum.Enum):
    """What an answer means to Postfix, independent of the wire protocol."""

    FOUND = "found"  # tcp_table 200, socketmap OK
    NOT_FOUND = "not_found"  # tcp_table 500, socketmap NOTFOUND: keep the address
    TEMP_FAIL = "temp_fail"  # tcp_table 400, socketmap TEMP: defer the mail (internal fault)
    PERM_FAIL = "perm_fail"  # tcp_table 500, socketmap PERM: the request itself was bad

    # Members are singletons: identity hashing is correct, and Enum's own __hash__ (a Python
    # call) costs ~0.1 us on every dict lookup of the per-lookup path.
    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class Answer:
    status: Status
    text: bytes  # the value when FOUND, otherwise a short ASCII reason


@dataclass(frozen=True, slots=True)
class Query:
    """One lookup request. ``table`` is None when the listener decides the table (tcp_table)."""

    table: Table | None
    key: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    """A request the codec could not parse; answered with ``reason``.

    ``fatal`` means the stream cannot be resynchronised and the connection must be closed
    after the reply (a broken netstring); tcp_table recovers at the next LF, so never fatal.
    """

    reason: str
    fatal: bool = False


Event = Query | Malformed


class Codec(Protocol):
    """A sans-I/O wire codec: one instance per connection."""

    def receive(self, data: bytes) -> list[Event]:
        """Consume ``data``; return the complete events, in order. Memory stays bounded."""
        ...

    def encode(self, answer: Answer) -> bytes:
        """The wire bytes of one reply."""
        ...

    def malformed_answer(self, event: Malformed) -> Answer:
        """The answer owed for a malformed request."""
        ...
