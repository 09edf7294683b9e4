"""Values exchanged between the wire codecs, the server and the lookup tables.

A codec (``tcp_table``, ``socketmap``) turns bytes into events and answers into bytes; the
server hands each ``Query`` to ``tables`` and each ``Answer`` back to the codec. None of these
types knows a wire format or a socket.

Invariant: for every event a codec emits, exactly one reply is written, in event order
(``Malformed`` events are answered by the codec itself through ``Codec.encode``).

Limits every codec applies to one stream:
- ``MAX_BAD`` malformed requests in a row and the stream is given up: the last of them is
  ``fatal`` (answered, then the connection closes). A client that sends that many is not a
  Postfix map client, and answering an endless stream of newlines costs CPU for nothing.
- ``max_events`` (when given) caps the events one ``receive`` returns; whole requests beyond
  it stay in the codec (``more`` is true) until ``receive(b"")`` asks for them. The server
  uses it to do a bounded amount of work per connection per turn of its event loop.
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
MAX_BAD = 10  # malformed requests in a row after which a stream is given up


class Codec(Protocol):
    """A sans-I/O wire codec: one instance per connection."""

    @property
    def more(self) -> bool:
        """Whole requests are held back by ``max_events``: ``receive(b"")`` returns them."""
        ...

    def receive(self, data: bytes) -> list[Event]:
        """Consume ``data``; return the complete events, in order. Memory stays bounded."""
        ...

    def encode(self, answer: Answer) -> bytes:
        """The wire bytes of one reply."""
        ...

    def malformed_answer(self, event: Malformed) -> Answer:
        """The answer owed for a malformed request."""
        ...
