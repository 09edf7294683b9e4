"""The limits every codec applies to one stream (pysrsd.lookup): ``MAX_BAD`` malformed requests
in a row end the stream; ``max_events`` caps one ``receive`` and holds the rest back until
``receive(b"")``, without changing which events come out or their order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysrsd.lookup import MAX_BAD, Codec, Event, Malformed, Query, Table
from pysrsd.socketmap import SocketmapCodec, encode_netstring
from pysrsd.tcp_table import TcpTableCodec


def tcp_request(key: bytes) -> bytes:
    return b"get " + key + b"\n"


def socketmap_request(key: bytes) -> bytes:
    return encode_netstring(b"forward " + key)


def drain(codec: Codec, data: bytes) -> list[Event]:
    """What a server does: receive, then ask for what was held back until nothing is."""
    events = codec.receive(data)
    while codec.more:
        events += codec.receive(b"")
    return events


# (codec with max_events, request for a key, a malformed request, its event)
KINDS = [
    pytest.param(
        lambda n: TcpTableCodec(max_events=n),
        tcp_request,
        b"put x y\n",
        Malformed("put is not supported"),
        Query(None, b"k"),
        id="tcp_table",
    ),
    pytest.param(
        SocketmapCodec,
        socketmap_request,
        encode_netstring(b"nomap k"),
        Malformed("unknown map"),
        Query(Table.FORWARD, b"k"),
        id="socketmap",
    ),
]


@pytest.mark.parametrize(("make", "request_", "bad", "bad_event", "good_event"), KINDS)
def test_ten_bad_requests_in_a_row_end_the_stream(
    make: Callable[[int | None], Codec],
    request_: Callable[[bytes], bytes],
    bad: bytes,
    bad_event: Malformed,
    good_event: Query,
) -> None:
    codec = make(None)
    events = codec.receive(bad * (MAX_BAD + 5) + request_(b"k"))
    assert events == [bad_event] * (MAX_BAD - 1) + [Malformed(bad_event.reason, fatal=True)]
    assert codec.receive(request_(b"k")) == []  # nothing is read after the end
    assert not codec.more


@pytest.mark.parametrize(("make", "request_", "bad", "bad_event", "good_event"), KINDS)
def test_a_good_request_resets_the_count(
    make: Callable[[int | None], Codec],
    request_: Callable[[bytes], bytes],
    bad: bytes,
    bad_event: Malformed,
    good_event: Query,
) -> None:
    codec = make(None)
    stream = (bad * (MAX_BAD - 1) + request_(b"k")) * 3
    assert codec.receive(stream) == ([bad_event] * (MAX_BAD - 1) + [good_event]) * 3


@pytest.mark.parametrize(("make", "request_", "bad", "bad_event", "good_event"), KINDS)
def test_max_events_holds_the_rest_back_in_order(
    make: Callable[[int | None], Codec],
    request_: Callable[[bytes], bytes],
    bad: bytes,
    bad_event: Malformed,
    good_event: Query,
) -> None:
    codec = make(4)
    keys = [b"k%d" % i for i in range(10)]
    first = codec.receive(b"".join(request_(k) for k in keys))
    assert len(first) == 4 and codec.more
    second = codec.receive(b"")
    assert len(second) == 4 and codec.more
    third = codec.receive(b"")
    assert len(third) == 2 and not codec.more
    assert [e.key for e in first + second + third if isinstance(e, Query)] == keys
    assert codec.receive(b"") == []


@pytest.mark.parametrize(("make", "request_", "bad", "bad_event", "good_event"), KINDS)
def test_held_back_requests_and_new_data_keep_their_order(
    make: Callable[[int | None], Codec],
    request_: Callable[[bytes], bytes],
    bad: bytes,
    bad_event: Malformed,
    good_event: Query,
) -> None:
    """A read arriving while requests are held back (the server never lets that happen, but
    the codec must not reorder if it does) is decoded after them."""
    codec = make(2)
    events = codec.receive(request_(b"a") + request_(b"b") + request_(b"c"))
    events += codec.receive(request_(b"d"))
    events += drain(codec, b"")
    assert [e.key for e in events if isinstance(e, Query)] == [b"a", b"b", b"c", b"d"]


STREAM_PIECES = st.sampled_from(
    [b"get a\n", b"\n", b"put x y\n", b"get %zz\n", b"get b%40c\n", b"x" * 40, b"get", b"\r\n"]
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(STREAM_PIECES, max_size=60),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
    limit=st.integers(1, 5),
)
def test_tcp_table_cap_never_changes_the_events(
    pieces: list[bytes], cuts: list[int], limit: int
) -> None:
    stream = b"".join(pieces)
    expected = TcpTableCodec(max_line=64).receive(stream)
    capped = TcpTableCodec(max_line=64, max_events=limit)
    got: list[Event] = []
    start = 0
    for end in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        got += drain(capped, stream[start:end])
        start = max(start, end)
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(st.binary(max_size=12), max_size=40),
    bad=st.lists(st.booleans(), max_size=40),
    limit=st.integers(1, 5),
)
def test_socketmap_cap_never_changes_the_events(
    keys: list[bytes], bad: list[bool], limit: int
) -> None:
    stream = b"".join(
        encode_netstring((b"nomap " if i < len(bad) and bad[i] else b"forward ") + key)
        for i, key in enumerate(keys)
    )
    expected = SocketmapCodec().receive(stream)
    capped = SocketmapCodec(max_events=limit)
    got: list[Event] = []
    for i in range(0, len(stream), 7):
        got += drain(capped, stream[i : i + 7])
    got += drain(capped, b"")
    assert got == expected
