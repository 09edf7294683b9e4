"""Tests for pysrsd.wire.tcp_table: the Postfix tcp_table(5) codec (framing, decoding, encoding)."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysrsd.wire.lookup import Answer, Codec, Event, Malformed, Query, Status
from pysrsd.wire.tcp_table import (
    DEFAULT_MAX_LINE,
    MAX_REPLY,
    TcpTableCodec,
    decode_request,
    encode_reply,
)

FOUND, NOT_FOUND, PERM_FAIL, TEMP_FAIL = (
    Status.FOUND,
    Status.NOT_FOUND,
    Status.PERM_FAIL,
    Status.TEMP_FAIL,
)
TOO_LONG = Malformed("request too long")
TOO_LONG_REPLY = b"500 request%20too%20long\n"  # tcp_table(5): space in reply text is %20


def q(key: bytes) -> Query:
    return Query(None, key)


def strict_unquote(text: bytes) -> bytes:
    """An independent %XX decoder (tcp_table(5) ENCODING); rejects a broken escape."""
    if re.search(rb"%(?![0-9A-Fa-f]{2})", text):
        raise AssertionError(f"broken escape in {text!r}")
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), text)


def serve(codec: TcpTableCodec, *chunks: bytes) -> bytes:
    """What a client reads back when every found key is echoed as its own value."""
    out = bytearray()
    for chunk in chunks:
        for event in codec.receive(chunk):
            if isinstance(event, Query):
                out += codec.encode(Answer(FOUND, event.key))
            else:
                out += codec.encode(codec.malformed_answer(event))
    return bytes(out)


def feed(codec: TcpTableCodec, chunks: list[bytes]) -> list[Event]:
    return [event for chunk in chunks for event in codec.receive(chunk)]


def test_codec_satisfies_the_shared_protocol() -> None:
    codec: Codec = TcpTableCodec()
    assert codec.receive(b"") == []


# --- request decoding -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(b"get alice@example.com", q(b"alice@example.com"), id="plain"),
        pytest.param(b"get alice@example.com\r", q(b"alice@example.com"), id="cr-tolerated"),
        pytest.param(b"get a%40b", q(b"a@b"), id="escape"),
        pytest.param(b"get %C3%A9@x.example", q(b"\xc3\xa9@x.example"), id="utf8-upper-hex"),
        pytest.param(b"get %c3%a9@x.example", q(b"\xc3\xa9@x.example"), id="utf8-lower-hex"),
        pytest.param(b"get %c3%A9@x.example", q(b"\xc3\xa9@x.example"), id="utf8-mixed-hex"),
        pytest.param(b"get a%20b%25c", q(b"a b%c"), id="space-and-percent"),
        pytest.param(b"get %FF%80%01", q(b"\xff\x80\x01"), id="any-byte-survives"),
        pytest.param(b"get %2541", q(b"%41"), id="decoded-once-only"),
        pytest.param(b"put a b", Malformed("put is not supported"), id="put"),
        pytest.param(b"del a", Malformed("unknown command"), id="unknown-command"),
        pytest.param(b"", Malformed("unknown command"), id="empty-line"),
        pytest.param(b"\r", Malformed("unknown command"), id="empty-line-crlf"),
        pytest.param(b"get", Malformed("missing key"), id="get-without-key"),
        pytest.param(b"get ", Malformed("missing key"), id="get-empty-key"),
        pytest.param(b"get a%zzb", Malformed("invalid % escape in key"), id="escape-not-hex"),
        pytest.param(b"get a%4", Malformed("invalid % escape in key"), id="escape-truncated"),
        pytest.param(b"get a%", Malformed("invalid % escape in key"), id="escape-bare"),
        pytest.param(b"get %4g", Malformed("invalid % escape in key"), id="escape-half-hex"),
        pytest.param(b"get a%00b", Malformed("NUL byte in key"), id="decoded-nul"),
        pytest.param(b"get a\0b", Malformed("NUL byte in key"), id="raw-nul"),
    ],
)
def test_decode_request(line: bytes, expected: Event) -> None:
    assert decode_request(line) == expected


@pytest.mark.parametrize(
    ("sent", "reply"),
    [
        pytest.param(b"put a b\n", b"500 put%20is%20not%20supported\n", id="put"),
        pytest.param(b"hello\n", b"500 unknown%20command\n", id="unknown"),
        pytest.param(b"\n", b"500 unknown%20command\n", id="empty-line"),
        pytest.param(b"get\n", b"500 missing%20key\n", id="missing-key"),
        pytest.param(b"get %zz\n", b"500 invalid%20%25%20escape%20in%20key\n", id="bad-escape"),
        pytest.param(b"get %4\n", b"500 invalid%20%25%20escape%20in%20key\n", id="short-escape"),
        pytest.param(b"get x%00\n", b"500 NUL%20byte%20in%20key\n", id="nul"),
        pytest.param(b"get a%40b\r\n", b"200 a@b\n", id="found-crlf"),
    ],
)
def test_bad_requests_are_answered_500_on_the_wire(sent: bytes, reply: bytes) -> None:
    assert serve(TcpTableCodec(), sent) == reply


# --- reply encoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text", "reply"),
    [
        pytest.param(FOUND, b"SRS0=HHHH=TT=a.example=u@f.example", None, id="found-plain"),
        pytest.param(FOUND, b"a%b", b"200 a%25b\n", id="percent"),
        pytest.param(FOUND, b"a b", b"200 a%20b\n", id="space"),
        pytest.param(FOUND, b"a\tb\r\n\x00\x1f", b"200 a%09b%0D%0A%00%1F\n", id="controls"),
        pytest.param(FOUND, b"\x7f\x80\xc3\xa9\xff", b"200 %7F%80%C3%A9%FF\n", id="high-bytes"),
        pytest.param(FOUND, b"!~\"'+=@", b"200 !~\"'+=@\n", id="printable-untouched"),
        pytest.param(NOT_FOUND, b"not an SRS address", b"500 not%20an%20SRS%20address\n", id="500"),
        pytest.param(PERM_FAIL, b"missing key", b"500 missing%20key\n", id="perm-fail-is-500"),
        pytest.param(TEMP_FAIL, b"internal error", b"400 internal%20error\n", id="400"),
    ],
)
def test_encode_reply(status: Status, text: bytes, reply: bytes | None) -> None:
    expected = reply if reply is not None else b"200 " + text + b"\n"
    assert encode_reply(status, text) == expected


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        pytest.param(b"a" * 4091, b"200 " + b"a" * 4091 + b"\n", id="exactly-4096-fits"),
        pytest.param(b"a" * 4092, b"500 result%20too%20long\n", id="4097-is-not-found"),
        pytest.param(b"\xff" * 1363, b"200 " + b"%FF" * 1363 + b"\n", id="quoted-4094-fits"),
        pytest.param(b"\xff" * 1364, b"500 result%20too%20long\n", id="quoted-4097-not-found"),
    ],
)
def test_found_value_too_long_is_never_truncated(text: bytes, reply: bytes) -> None:
    # A truncated address would be a wrong rewrite: better leave the address alone (500).
    assert encode_reply(FOUND, text) == reply
    assert len(encode_reply(FOUND, text)) <= MAX_REPLY


@pytest.mark.parametrize("status", [NOT_FOUND, PERM_FAIL, TEMP_FAIL])
@pytest.mark.parametrize(
    "text", [pytest.param(b"x" * 10_000, id="ascii"), pytest.param(b" " * 10_000, id="quoted")]
)
def test_long_reasons_are_cut_to_fit(status: Status, text: bytes) -> None:
    reply = encode_reply(status, text)
    assert len(reply) <= MAX_REPLY
    assert reply.count(b"\n") == 1
    assert reply.endswith(b"\n")
    assert text.startswith(strict_unquote(reply[4:-1]))


# --- framing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([b"get a\nget b\nget c\n"], [q(b"a"), q(b"b"), q(b"c")], id="three-in-one"),
        pytest.param([b"get a\r\nget b\r\n"], [q(b"a"), q(b"b")], id="crlf-pair"),
        pytest.param([b"ge", b"t al", b"ice\n"], [q(b"alice")], id="one-across-reads"),
        pytest.param([b"get a\nget", b" b\n"], [q(b"a"), q(b"b")], id="split-second"),
        pytest.param([b"get a\r", b"\n"], [q(b"a")], id="cr-lf-split"),
        pytest.param([b"get a"], [], id="incomplete-waits"),
        pytest.param([b"put x y\nget a\n"], [Malformed("put is not supported"), q(b"a")], id="bad"),
    ],
)
def test_framing(chunks: list[bytes], expected: list[Event]) -> None:
    assert feed(TcpTableCodec(), chunks) == expected


def test_replies_come_out_in_request_order() -> None:
    reply = serve(TcpTableCodec(), b"get a\nput b c\nget %63\n")
    assert reply == b"200 a\n500 put%20is%20not%20supported\n200 c\n"


MAX = 256


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"get " + b"x" * MAX + b"\nget ok\n"], id="whole"),
        pytest.param([b"get " + b"x" * MAX, b"\nget ok\n"], id="lf-later"),
        pytest.param([b"get " + b"x" * MAX, b"y" * 5000, b"z" * 5000, b"\nget ok\n"], id="more"),
        pytest.param([bytes([c]) for c in b"get " + b"x" * MAX + b"\nget ok\n"], id="bytewise"),
        pytest.param([b"get " + b"x" * MAX + b"\n", b"get ok\n"], id="line-then-next"),
        pytest.param([b"get " + b"x" * MAX + b"\r\nget ok\r\n"], id="crlf"),
    ],
)
def test_over_long_line_answered_once_then_next_request_works(chunks: list[bytes]) -> None:
    codec = TcpTableCodec(max_line=MAX)
    replies = bytearray()
    for chunk in chunks:
        replies += serve(codec, chunk)
        assert codec.pending <= MAX
    assert bytes(replies) == TOO_LONG_REPLY + b"200 ok\n"


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        pytest.param(MAX, [q(b"k" * (MAX - 4))], id="max-line-accepted"),
        pytest.param(MAX + 1, [TOO_LONG], id="one-over-refused"),
    ],
)
def test_max_line_boundary(length: int, expected: list[Event]) -> None:
    line = b"get " + b"k" * (length - 4) + b"\n"
    assert TcpTableCodec(max_line=MAX).receive(line) == expected
    bytewise = TcpTableCodec(max_line=MAX)
    assert feed(bytewise, [bytes([c]) for c in line]) == expected


def test_memory_stays_bounded_under_an_endless_line() -> None:
    codec = TcpTableCodec(max_line=MAX)
    events: list[Event] = []
    for _ in range(200):
        events += codec.receive(b"A" * 1000)
        assert codec.pending <= MAX
    assert events == [TOO_LONG]
    assert codec.receive(b"\nget a\n") == [q(b"a")]
    assert codec.pending == 0


def test_default_max_line_is_the_documented_16384() -> None:
    assert DEFAULT_MAX_LINE == 16384
    line = b"get " + b"k" * (16384 - 4) + b"\n"
    assert TcpTableCodec().receive(line) == [q(b"k" * (16384 - 4))]
    assert TcpTableCodec().receive(b"x" + line) == [TOO_LONG]


# --- properties ---------------------------------------------------------------------------

_LIMITS = (8, 40, DEFAULT_MAX_LINE)
# Lines around each limit: one short of it, at it, one over (with LF, CR LF, or unfinished).
_lengths = st.one_of(
    st.integers(min_value=0, max_value=3 * 40),
    st.sampled_from([limit - 4 + d for limit in _LIMITS[:2] for d in (-2, -1, 0, 1, 2)]),
)
_lines = st.builds(
    lambda n, end: b"get " + b"x" * n + end, _lengths, st.sampled_from([b"\n", b"\r\n", b""])
)
_pieces = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [b"get a\n", b"get %41%4a\r\n", b"put x y\n", b"\n", b"\r\n", b"get %zz\n", b"get %00\n"]
    ),
    _lines,
)
streams = st.lists(_pieces, max_size=20).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(stream=streams, data=st.data(), max_line=st.sampled_from(_LIMITS))
def test_any_chunking_gives_the_same_events(
    stream: bytes, data: st.DataObject, max_line: int
) -> None:
    whole = TcpTableCodec(max_line).receive(stream)

    bytewise = TcpTableCodec(max_line)
    one_by_one: list[Event] = []
    for i in range(len(stream)):
        one_by_one += bytewise.receive(stream[i : i + 1])
        assert bytewise.pending <= max_line

    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10), label="cuts"))
    bounds = [0, *cuts, len(stream)]
    chunked = TcpTableCodec(max_line)
    in_chunks: list[Event] = []
    for start, end in itertools.pairwise(bounds):
        in_chunks += chunked.receive(stream[start:end])
        assert chunked.pending <= max_line

    assert one_by_one == whole
    assert in_chunks == whole
    # One event per LF-terminated line, nothing more.
    assert len(whole) <= stream.count(b"\n") + 1


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from(list(Status)),
    text=st.one_of(st.binary(max_size=64), st.binary(min_size=1300, max_size=5000)),
)
def test_every_reply_is_one_short_line_that_round_trips(status: Status, text: bytes) -> None:
    reply = encode_reply(status, text)
    assert len(reply) <= MAX_REPLY
    assert reply.endswith(b"\n")
    assert reply.count(b"\n") == 1
    code, space, body = reply[:-1].partition(b" ")
    assert space == b" "
    expected_code = {FOUND: b"200", NOT_FOUND: b"500", PERM_FAIL: b"500", TEMP_FAIL: b"400"}
    quoted_length = sum(1 if 0x21 <= b < 0x7F and b != ord("%") else 3 for b in text)
    if status is FOUND and len(b"200 \n") + quoted_length > MAX_REPLY:
        assert reply == b"500 result%20too%20long\n"
        return
    assert code == expected_code[status]
    # In the reply text every byte is printable ASCII other than space (tcp_table(5)).
    assert all(0x21 <= b < 0x7F for b in body)
    decoded = strict_unquote(body)
    if status is FOUND:
        assert decoded == text
    else:
        assert text.startswith(decoded)
