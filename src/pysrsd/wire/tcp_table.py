"""Postfix ``tcp_table(5)`` codec: line framing, request decoding, reply encoding. No I/O.

Protocol (tcp_table(5), "PROTOCOL"):
- a request is ``get SPACE key NEWLINE``; the key is %XX-encoded by the client;
- a reply is ``200 SPACE value NEWLINE`` (found), ``500 SPACE text NEWLINE`` (not found) or
  ``400 SPACE text NEWLINE`` (temporary failure); reply text is %XX-encoded the same way;
- ``put SPACE key SPACE value NEWLINE`` exists in the man page but Postfix never sends it for
  canonical maps; we refuse it (``500``), as every other unknown request.

Invariants:
- every complete line yields exactly one event, in order; a CR before LF is tolerated;
- memory is bounded: at most ``max_line`` bytes of a partial line are kept; a longer line is
  answered once (``500 request too long``) and the rest of it is discarded up to its LF;
- ``receive`` never raises: what it cannot decode becomes ``Malformed``;
- ``MAX_BAD`` malformed requests in a row end the stream: the last is ``fatal``, and nothing
  after it is decoded (``lookup``'s stream limits; ``max_events`` caps one ``receive``);
- an encoded reply never exceeds ``MAX_REPLY`` bytes including its LF.
"""

from __future__ import annotations

import re
import sys
from typing import cast

from pysrsd.wire.lookup import MAX_BAD, Answer, Event, Malformed, Query, Status

MAX_REPLY = 4096  # Postfix's dict_tcp reads replies into a bounded buffer
DEFAULT_MAX_LINE = 16384
_HEX = frozenset(b"0123456789abcdefABCDEF")
_CODES = {
    Status.FOUND: b"200 ",
    Status.NOT_FOUND: b"500 ",
    Status.PERM_FAIL: b"500 ",
    Status.TEMP_FAIL: b"400 ",
}
# Bytes sent as %XX in reply text: '%', space, controls and everything from 0x7F up.
_QUOTED = frozenset(range(0x21)) | frozenset(range(0x7F, 0x100)) | {ord("%")}
_QUOTE_TABLE = [b"%%%02X" % i if i in _QUOTED else bytes([i]) for i in range(256)]
_NEEDS_QUOTE = re.compile(rb"[\x00-\x20%\x7f-\xff]")  # the bytes of _QUOTED, scanned in C
_FIXED: dict[tuple[Status, bytes], bytes] = {}  # encoded non-FOUND replies (fixed reasons)
_FIXED_MAX = 1024
_TOO_LONG = Malformed("request too long")


def unquote(key: bytes) -> bytes:
    """Decode %XX escapes (hex digits in any case); raise ValueError on a broken escape."""
    head, *rest = key.split(b"%")
    out = [head]
    for part in rest:
        if len(part) < 2 or part[0] not in _HEX or part[1] not in _HEX:
            raise ValueError("invalid % escape")
        out.append(bytes((int(part[:2], 16),)))
        out.append(part[2:])
    return b"".join(out)


def quote(text: bytes) -> bytes:
    """%XX-encode the bytes a tcp_table client would misread in reply text."""
    if _NEEDS_QUOTE.search(text) is None:
        return text
    return b"".join([_QUOTE_TABLE[b] for b in text])


def decode_request(line: bytes) -> Event:
    """One request line (without its LF) to a ``Query`` or a ``Malformed``."""
    if line.endswith(b"\r"):
        line = line[:-1]
    command, _, key = line.partition(b" ")
    if command.lower() != b"get":
        if command.lower() == b"put":
            return Malformed("put is not supported")
        return Malformed("unknown command")
    if b"%" in key:
        try:
            key = unquote(key)
        except ValueError:
            return Malformed("invalid % escape in key")
    if not key:
        return Malformed("missing key")
    if b"\0" in key:
        return Malformed("NUL byte in key")
    return Query(None, key)


def encode_reply(status: Status, text: bytes) -> bytes:
    """The reply line for ``status``; text that would overflow ``MAX_REPLY`` never is sent."""
    if status is not Status.FOUND:  # a reason: one of a few fixed texts, encoded once
        reply = _FIXED.get((status, text))
        if reply is None:
            reply = _encode(status, text)
            if len(_FIXED) < _FIXED_MAX:
                _FIXED[status, text] = reply
        return reply
    return _encode(status, text)


def _encode(status: Status, text: bytes) -> bytes:
    body = quote(text)
    if len(body) > MAX_REPLY - 5:  # "NNN " + body + LF
        if status is Status.FOUND:  # a truncated value would be a wrong address
            return b"500 result%20too%20long\n"
        body = quote(text[: (MAX_REPLY - 5) // 3])  # each byte quotes to at most 3
    return _CODES[status] + body + b"\n"


class TcpTableCodec:
    """Per-connection tcp_table state: the partial line, whether we are skipping one, and how
    many malformed requests came in a row (``lookup.MAX_BAD`` and the stream is given up)."""

    __slots__ = ("_bad", "_buffer", "_dead", "_discarding", "_max_events", "_max_line", "more")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, max_events: int | None = None) -> None:
        self._max_line = max_line
        self._max_events = max_events or sys.maxsize
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long line already answered
        self._bad = 0  # malformed requests since the last good one
        self._dead = False  # given up: nothing more is read from this stream
        self.more = False  # whole requests held back by max_events

    @property
    def pending(self) -> int:
        """Bytes of an incomplete request held (0 when the connection is between requests)."""
        return len(self._buffer)

    def receive(self, data: bytes) -> list[Event]:
        if self._dead:
            return []
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return []
            self._discarding = False
            data = data[end + 1 :]
        if not self._buffer and data.endswith(b"\n") and data.find(b"\n") == len(data) - 1:
            # The common case: exactly one whole request in one read.
            if len(data) - 1 > self._max_line:
                return [self._malformed(_TOO_LONG)]
            event = decode_request(data[:-1])
            if type(event) is Query:
                self._bad = 0
                return [event]
            return [self._malformed(cast(Malformed, event))]
        return self._receive_slow(data)

    def _receive_slow(self, data: bytes) -> list[Event]:
        buffer = self._buffer
        buffer += data
        events: list[Event] = []
        start = 0
        limit = self._max_events
        while len(events) < limit and (end := buffer.find(b"\n", start)) >= 0:
            if end - start > self._max_line:
                event: Event = _TOO_LONG
            else:
                event = decode_request(bytes(buffer[start:end]))
            start = end + 1
            if type(event) is Query:
                self._bad = 0
            else:
                event = self._malformed(cast(Malformed, event))
            events.append(event)
            if self._dead:
                return events
        del buffer[:start]
        self.more = len(events) == limit and b"\n" in buffer
        if not self.more and len(buffer) > self._max_line:  # answer now, skip the rest of it
            events.append(self._malformed(_TOO_LONG))
            buffer.clear()
            self._discarding = not self._dead
        return events

    def _malformed(self, event: Malformed) -> Malformed:
        self._bad += 1
        if self._bad < MAX_BAD:
            return event
        self._dead = True
        self._buffer.clear()
        self.more = False
        return Malformed(event.reason, fatal=True)

    def encode(self, answer: Answer) -> bytes:
        return encode_reply(answer.status, answer.text)

    def malformed_answer(self, event: Malformed) -> Answer:
        return Answer(Status.PERM_FAIL, event.reason.encode())
