"""Tests for pysrsd.wire.socketmap: the socketmap_table(5) netstring codec."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysrsd.errors import ProtocolError
from pysrsd.wire.lookup import Answer, Codec, Event, Malformed, Query, Status, Table
from pysrsd.wire.socketmap import (
    MAP_NAMES,
    MAX_NETSTRING,
    SocketmapCodec,
    encode_netstring,
    encode_request,
)

FWD = Table.FORWARD
REV = Table.REVERSE
TOO_LONG = Malformed(f"netstring longer than {MAX_NETSTRING} bytes", fatal=True)
NON_DIGIT = Malformed("non-digit in netstring length", fatal=True)
LEADING_ZERO = Malformed("leading zero in netstring length", fatal=True)
NO_COMMA = Malformed("missing netstring terminator", fatal=True)


def feed(*chunks: bytes) -> list[Event]:
    codec = SocketmapCodec()
    return [event for chunk in chunks for event in codec.receive(chunk)]


def test_codec_satisfies_the_shared_protocol() -> None:
    codec: Codec = SocketmapCodec()
    assert codec.receive(b"") == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"19:forward a@b.example,", [Query(FWD, b"a@b.example")], id="forward"),
        pytest.param(b"19:reverse a@b.example,", [Query(REV, b"a@b.example")], id="reverse"),
        pytest.param(b"22:srsencoder a@b.example,", [Query(FWD, b"a@b.example")], id="srsencoder"),
        pytest.param(b"22:srsdecoder a@b.example,", [Query(REV, b"a@b.example")], id="srsdecoder"),
        pytest.param(b'13:forward "a b",', [Query(FWD, b'"a b"')], id="key-keeps-spaces"),
        pytest.param(b"9:forward  ,", [Query(FWD, b" ")], id="key-is-a-space"),
        pytest.param(b"8:forward ,", [Query(FWD, b"")], id="empty-key"),
        pytest.param(b"12:reverse \x00:,\xff,", [Query(REV, b"\x00:,\xff")], id="binary-key"),
        pytest.param(
            b"9:forward a,9:reverse b,",
            [Query(FWD, b"a"), Query(REV, b"b")],
            id="two-requests-one-read",
        ),
        pytest.param(b"19:forward a@b", [], id="incomplete-body"),
        pytest.param(b"17", [], id="incomplete-length"),
        pytest.param(b"19:forward a@b.example", [], id="terminator-not-yet-read"),
        pytest.param(b"9:Forward a,", [Malformed("unknown map")], id="names-case-sensitive"),
        pytest.param(b"10:forwarda a,", [Malformed("unknown map")], id="unknown-map"),
        pytest.param(b"2: a,", [Malformed("unknown map")], id="empty-map-name"),
        pytest.param(b"7:forward,", [Malformed("request without space")], id="no-space"),
        pytest.param(b"0:,", [Malformed("request without space")], id="empty-request"),
        pytest.param(
            b"7:forward,9:reverse b,",
            [Malformed("request without space"), Query(REV, b"b")],
            id="framing-error-free-mistake-is-not-fatal",
        ),
        pytest.param(b"01:a,", [LEADING_ZERO], id="leading-zero"),
        pytest.param(b"00:", [LEADING_ZERO], id="double-zero"),
        pytest.param(b"a:", [NON_DIGIT], id="letter-length"),
        pytest.param(b"-1:", [NON_DIGIT], id="negative-length"),
        pytest.param(b" 9:forward a,", [NON_DIGIT], id="space-before-length"),
        pytest.param(b"get a@b\n", [NON_DIGIT], id="tcp-table-request"),
        pytest.param(b":,", [Malformed("empty netstring length", fatal=True)], id="no-length"),
        pytest.param(b"9:forward aX", [NO_COMMA], id="bad-terminator"),
        pytest.param(b"8:forward a,", [NO_COMMA], id="length-one-short"),
        pytest.param(b"100001:", [TOO_LONG], id="over-limit-refused-before-body"),
        pytest.param(b"1000000", [TOO_LONG], id="over-limit-refused-before-colon"),
        pytest.param(b"99999999999999999999:", [TOO_LONG], id="huge-length"),
        pytest.param(
            b"9:forward a,x9:forward b,",
            [Query(FWD, b"a"), NON_DIGIT],
            id="events-before-fatal-kept-nothing-after",
        ),
    ],
)
def test_receive(data: bytes, expected: list[Event]) -> None:
    assert feed(data) == expected


def test_maximum_length_request_is_accepted() -> None:
    key = b"k" * (MAX_NETSTRING - len(b"forward "))
    data = b"100000:forward " + key + b","
    assert feed(data) == [Query(FWD, key)]
    assert feed(*(data[i : i + 4096] for i in range(0, len(data), 4096))) == [Query(FWD, key)]


def test_nothing_after_fatal_even_in_later_reads() -> None:
    codec = SocketmapCodec()
    assert codec.receive(b"x") == [NON_DIGIT]
    assert codec.receive(b"9:forward a,") == []
    assert codec.receive(b"\x00" * 200_000) == []


@pytest.mark.parametrize(
    ("answer", "wire"),
    [
        pytest.param(
            Answer(Status.FOUND, b"SRS0=HHHH=TT=example.com=alice@fwd.example"),
            b"45:OK SRS0=HHHH=TT=example.com=alice@fwd.example,",
            id="found",
        ),
        pytest.param(Answer(Status.FOUND, b"a b"), b"6:OK a b,", id="found-value-with-space"),
        pytest.param(Answer(Status.FOUND, b""), b"3:OK ,", id="found-empty"),
        pytest.param(
            Answer(Status.NOT_FOUND, b"not an SRS address"), b"9:NOTFOUND ,", id="notfound"
        ),
        pytest.param(Answer(Status.NOT_FOUND, b""), b"9:NOTFOUND ,", id="notfound-empty"),
        pytest.param(
            Answer(Status.TEMP_FAIL, b"internal error"), b"19:TEMP internal error,", id="temp"
        ),
        pytest.param(Answer(Status.TEMP_FAIL, b""), b"5:TEMP ,", id="temp-empty"),
        pytest.param(Answer(Status.PERM_FAIL, b"unknown map"), b"16:PERM unknown map,", id="perm"),
        pytest.param(Answer(Status.PERM_FAIL, b"a\x00b"), b"8:PERM a?b,", id="reason-nul"),
        pytest.param(
            Answer(Status.FOUND, b"a\x00b"), b"23:PERM value contains NUL,", id="value-nul"
        ),
        pytest.param(
            Answer(Status.FOUND, b"v" * (MAX_NETSTRING - 3)),
            b"100000:OK " + b"v" * (MAX_NETSTRING - 3) + b",",
            id="found-at-limit",
        ),
        pytest.param(
            Answer(Status.FOUND, b"v" * (MAX_NETSTRING - 2)),
            b"19:PERM value too long,",
            id="found-over-limit",
        ),
        pytest.param(
            Answer(Status.TEMP_FAIL, b"r" * MAX_NETSTRING),
            b"100000:TEMP " + b"r" * (MAX_NETSTRING - 5) + b",",
            id="reason-truncated",
        ),
    ],
)
def test_encode(answer: Answer, wire: bytes) -> None:
    assert SocketmapCodec().encode(answer) == wire


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        pytest.param(Malformed("unknown map"), b"16:PERM unknown map,", id="unknown-map"),
        pytest.param(NON_DIGIT, b"34:PERM non-digit in netstring length,", id="fatal"),
        pytest.param(Malformed("caf\u00e9"), b"9:PERM caf?,", id="non-ascii-reason"),
    ],
)
def test_malformed_answer(event: Malformed, wire: bytes) -> None:
    codec = SocketmapCodec()
    answer = codec.malformed_answer(event)
    assert answer.status is Status.PERM_FAIL
    assert codec.encode(answer) == wire


@pytest.mark.parametrize(
    ("payload", "wire"),
    [
        pytest.param(b"", b"0:,", id="empty"),
        pytest.param(b"hello world!", b"12:hello world!,", id="text"),
    ],
)
def test_encode_netstring(payload: bytes, wire: bytes) -> None:
    assert encode_netstring(payload) == wire


@pytest.mark.parametrize(
    ("name", "key"),
    [
        pytest.param(b"", b"a@b", id="empty-name"),
        pytest.param(b"for ward", b"a@b", id="name-with-space"),
        pytest.param(b"forward", b"k" * MAX_NETSTRING, id="too-long"),
    ],
)
def test_encode_request_refuses(name: bytes, key: bytes) -> None:
    with pytest.raises(ProtocolError):
        encode_request(name, key)


# --- properties -------------------------------------------------------------------------------

NAMES = st.sampled_from([*MAP_NAMES, b"Forward", b"nosuchmap", b""])
KEYS = st.binary(max_size=64) | st.text(max_size=32).map(str.encode)
FRAGMENTS = st.sampled_from([b"0", b"1", b"9", b":", b",", b" ", b"forward ", b"100001:"])
PIECES = st.one_of(
    st.builds(lambda n, k: b"%d:%s %s," % (len(n) + 1 + len(k), n, k), NAMES, KEYS),
    FRAGMENTS,
    st.binary(max_size=16),
)
STREAMS = st.lists(PIECES, max_size=12).map(b"".join) | st.binary(max_size=256)
TEXTS = st.binary(max_size=64) | st.integers(MAX_NETSTRING - 8, MAX_NETSTRING + 8).map(
    lambda n: b"x" * n
)
PROPERTY = settings(deadline=None, max_examples=300)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@PROPERTY
@given(stream=STREAMS, cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_chunking_never_changes_events(stream: bytes, cuts: list[int]) -> None:
    whole = feed(stream)
    assert feed(*(stream[i : i + 1] for i in range(len(stream)))) == whole
    assert feed(*split(stream, cuts)) == whole


@PROPERTY
@given(stream=STREAMS, more=st.binary(max_size=64))
def test_fatal_is_last_and_final(stream: bytes, more: bytes) -> None:
    codec = SocketmapCodec()
    events = codec.receive(stream)
    fatal = [i for i, e in enumerate(events) if isinstance(e, Malformed) and e.fatal]
    assert fatal in ([], [len(events) - 1])
    if fatal:
        assert codec.receive(more) == []
        assert codec.receive(b"9:forward a,") == []


@PROPERTY
@given(
    requests=st.lists(st.tuples(st.sampled_from(sorted(MAP_NAMES)), KEYS), max_size=8),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
)
def test_requests_round_trip(requests: list[tuple[bytes, bytes]], cuts: list[int]) -> None:
    stream = b"".join(encode_request(name, key) for name, key in requests)
    expected = [Query(MAP_NAMES[name], key) for name, key in requests]
    assert feed(*split(stream, cuts)) == expected


@PROPERTY
@given(key=st.binary(max_size=64), noise=st.sampled_from([b"\x00", b":", b",", b" ", b"1:"]))
def test_delimiters_in_keys_round_trip(key: bytes, noise: bytes) -> None:
    key = noise + key + noise
    assert feed(encode_request(b"reverse", key)) == [Query(REV, key)]


@PROPERTY
@given(status=st.sampled_from(Status), text=TEXTS)
def test_every_reply_is_one_valid_netstring(status: Status, text: bytes) -> None:
    wire = SocketmapCodec().encode(Answer(status, text))
    length, colon, rest = wire.partition(b":")
    assert colon
    assert length == b"%d" % int(length)  # decimal, no leading zero
    assert int(length) == len(rest) - 1 <= MAX_NETSTRING
    assert rest.endswith(b",")
    word, space, data = rest[:-1].partition(b" ")
    assert space
    assert word in {b"OK", b"NOTFOUND", b"TEMP", b"PERM"}
    assert b"\x00" not in data
    if word == b"OK":
        assert status is Status.FOUND
        assert data == text
    if word == b"NOTFOUND":
        assert data == b""
