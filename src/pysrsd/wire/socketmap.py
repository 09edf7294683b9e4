"""Sans-I/O codec for Postfix's ``socketmap_table(5)`` protocol (server side).

Contract (``lookup.Codec``): one ``SocketmapCodec`` per connection. ``receive(data)`` consumes
any bytes and returns the complete events in wire order; ``encode(answer)`` returns the reply
netstring for one event; ``malformed_answer(event)`` gives the answer owed to a ``Malformed``.

Wire format, socketmap_table(5):
- PROTOCOL: "Each request and each reply are sent as one netstring object", i.e.
  ``LEN ":" PAYLOAD ","`` with LEN in decimal. Leading zeros are refused: the netstring
  definition the man page cites (cr.yp.to/proto/netstrings.txt) prohibits them, and Postfix
  never sends them.
- REQUEST FORMAT: ``name <space> key``. The name is everything before the first space, the key
  everything after it (it may hold spaces and any other byte). Names are compared exactly,
  case-sensitively: Postfix sends the name verbatim as written after the last ``:`` in main.cf,
  and postsrsd 2.x and pfix-srsd compare it exactly too.
- REPLY FORMAT: ``OK <space> data`` / ``NOTFOUND <space>`` / ``TEMP|TIMEOUT|PERM <space>
  reason``, each "not longer than 100000 characters (not including the netstring
  encapsulation)". pysrsd never sends TIMEOUT (Postfix treats it like TEMP).

Invariants:
- ``receive`` never raises; bytes that break the protocol become ``Malformed`` events.
- Framing is a byte-at-a-time state machine, so any split of a stream into chunks gives the
  same events as the whole stream.
- Memory is bounded: at most one unfinished netstring is held (≤ 6 length digits and
  ≤ MAX_NETSTRING + 1 body bytes). A length above MAX_NETSTRING is refused as soon as its
  digits arrive, before any body byte is read.
- A broken netstring (bad length, missing ``,``) cannot be resynchronised: it yields
  ``Malformed(fatal=True)``, after which ``receive`` returns nothing, ever. The server answers
  it and then closes the connection.
- A well-framed request that is wrong (no space, unknown map name) yields
  ``Malformed(fatal=False)``: answered ``PERM reason``, the connection carries on, unless it
  is the ``MAX_BAD``-th in a row: then it is fatal (``lookup``'s stream limits).
- With ``max_events``, one ``receive`` returns at most that many events; the unread rest of
  the data (at most what one read brought) waits for ``receive(b"")`` while ``more`` is true.
- Every reply is within the 100,000 byte limit.
"""

from __future__ import annotations

import sys
from typing import cast

from pysrsd.errors import ProtocolError
from pysrsd.wire.lookup import MAX_BAD, Answer, Event, Malformed, Query, Status, Table

__all__ = ["MAP_NAMES", "MAX_NETSTRING", "SocketmapCodec", "encode_netstring", "encode_request"]

# socketmap_table(5) REPLY FORMAT: Postfix refuses replies over 100000 characters (payload
# only). We hold requests to the same bound: an SRS address never comes close.
MAX_NETSTRING = 100_000
_MAX_DIGITS = len(str(MAX_NETSTRING))

# postsrsd 2.x names and pfix-srsd names for the same two tables.
MAP_NAMES: dict[bytes, Table] = {
    b"forward": Table.FORWARD,
    b"reverse": Table.REVERSE,
    b"srsencoder": Table.FORWARD,
    b"srsdecoder": Table.REVERSE,
}

_DIGITS = frozenset(b"0123456789")
_COLON = ord(":")
_COMMA = ord(",")

# socketmap_table(5) REPLY FORMAT: a status word, one space, then data or reason.
_REPLY_PREFIX: dict[Status, bytes] = {
    Status.FOUND: b"OK ",
    Status.NOT_FOUND: b"NOTFOUND ",
    Status.TEMP_FAIL: b"TEMP ",
    Status.PERM_FAIL: b"PERM ",
}


def encode_netstring(payload: bytes) -> bytes:
    """``LEN:PAYLOAD,`` with no leading zeros; raises ProtocolError above MAX_NETSTRING."""
    if len(payload) > MAX_NETSTRING:
        raise ProtocolError(f"netstring payload of {len(payload)} bytes exceeds {MAX_NETSTRING}")
    return b"%d:%s," % (len(payload), payload)


def encode_request(map_name: bytes, key: bytes) -> bytes:
    """A client request, as Postfix sends it (clients, tests and ``pysrsctl`` only)."""
    if not map_name or b" " in map_name:
        raise ProtocolError("a socketmap name must be non-empty and contain no space")
    return encode_netstring(map_name + b" " + key)


def _reply_payload(answer: Answer) -> bytes:
    text = answer.text
    if answer.status is Status.FOUND:
        # Postfix reads the reply as a C string: a NUL would silently cut the value short,
        # and an over-long reply is a lookup error on its side. Refuse both explicitly.
        if b"\0" in text:
            return b"PERM value contains NUL"
        if len(_REPLY_PREFIX[Status.FOUND]) + len(text) > MAX_NETSTRING:
            return b"PERM value too long"
        return _REPLY_PREFIX[Status.FOUND] + text
    prefix = _REPLY_PREFIX[answer.status]
    if answer.status is Status.NOT_FOUND:
        return prefix  # REPLY FORMAT: "NOTFOUND <space>", nothing after it
    # A reason is descriptive text only: keep it whole as a C string and within the limit.
    reason = text.replace(b"\0", b"?")[: MAX_NETSTRING - len(prefix)]
    return prefix + reason


class SocketmapCodec:
    """Server-side socketmap codec for one connection; satisfies ``lookup.Codec``."""

    __slots__ = ("_bad", "_body", "_dead", "_digits", "_held", "_length", "_max_events", "more")

    def __init__(self, max_events: int | None = None) -> None:
        self._digits = bytearray()  # length prefix read so far (≤ _MAX_DIGITS bytes)
        self._length: int | None = None  # payload length once ':' is seen
        self._body = bytearray()  # payload and terminator read so far
        self._dead = False  # a fatal Malformed was emitted
        self._bad = 0  # malformed requests since the last good one
        self._max_events = max_events or sys.maxsize
        self._held = b""  # data not yet looked at, held back by max_events
        self.more = False

    def receive(self, data: bytes) -> list[Event]:
        """Consume ``data``; return complete events in order (never raises)."""
        if self._held:
            data = self._held + data
            self._held = b""
        events: list[Event] = []
        pos = 0
        limit = self._max_events
        while pos < len(data) and not self._dead:
            if len(events) == limit:
                self._held = data[pos:]
                break
            if self._length is None:
                event = self._take_length_byte(data[pos])
                pos += 1
            else:
                pos, event = self._take_body(data, pos, self._length)
            if event is None:
                continue
            if type(event) is Query:
                self._bad = 0
            else:
                event = self._count_bad(cast(Malformed, event))
            events.append(event)
        self.more = bool(self._held)
        return events

    def encode(self, answer: Answer) -> bytes:
        """The reply netstring for ``answer``; always within the 100,000 byte limit."""
        return encode_netstring(_reply_payload(answer))

    def malformed_answer(self, event: Malformed) -> Answer:
        """Every malformed request is answered ``PERM reason``."""
        return Answer(Status.PERM_FAIL, event.reason.encode("ascii", "replace"))

    def _count_bad(self, event: Malformed) -> Malformed:
        self._bad += 1
        if event.fatal or self._bad < MAX_BAD:
            return event
        return self._fatal(event.reason)

    def _fatal(self, reason: str) -> Malformed:
        self._dead = True
        self._digits.clear()
        self._body.clear()
        self._held = b""
        return Malformed(reason, fatal=True)

    def _take_length_byte(self, byte: int) -> Event | None:
        if byte in _DIGITS:
            if self._digits == b"0":
                return self._fatal("leading zero in netstring length")
            self._digits.append(byte)
            # Refuse an over-long length now, without waiting for (or buffering) its body.
            if int(self._digits) > MAX_NETSTRING:
                return self._fatal(f"netstring longer than {MAX_NETSTRING} bytes")
            return None
        if byte == _COLON and self._digits:
            self._length = int(self._digits)
            self._digits.clear()
            return None
        if byte == _COLON:
            return self._fatal("empty netstring length")
        return self._fatal("non-digit in netstring length")

    def _take_body(self, data: bytes, pos: int, length: int) -> tuple[int, Event | None]:
        wanted = length + 1 - len(self._body)  # payload plus the ',' terminator
        chunk = data[pos : pos + wanted]
        self._body += chunk
        pos += len(chunk)
        if len(self._body) <= length:
            return pos, None
        if self._body[-1] != _COMMA:
            return pos, self._fatal("missing netstring terminator")
        payload = bytes(self._body[:-1])
        self._body.clear()
        self._length = None
        return pos, _decode_request(payload)


def _decode_request(payload: bytes) -> Event:
    """REQUEST FORMAT ``name <space> key``; a framing-valid mistake is never fatal."""
    name, space, key = payload.partition(b" ")
    if not space:
        return Malformed("request without space")
    table = MAP_NAMES.get(name)
    if table is None:
        return Malformed("unknown map")
    return Query(table, key)
