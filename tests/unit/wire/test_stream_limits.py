"""The limits every codec applies to one stream (pysrsd.wire.lookup): ``MAX_BAD`` malformed requests
in a row end the stream; ``max_events`` caps one ``receive`` and holds the rest back until
``receive(b"")``, without changing which events come out or their order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysrsd.wire.lookup import MAX_BAD, Codec, Event, Malformed, Query, Table
from pysrsd.wire.socketmap import SocketmapCodec, encode_netstring
from pysrsd.wire.tcp_table import TcpTableCodec


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


@dataclass(frozen=True)
class Kind:
    make: Callable[[int | None], Codec]  # a codec, with max_events
    request: Callable[[bytes], bytes]  # the wire bytes of a request for a key
    bad: bytes  # a malformed request
    bad_event: Malformed  # what it decodes to
    good_event: Query  # what request(b"k") decodes to


KINDS = [
    pytest.param(
        Kind(
            lambda n: TcpTableCodec(max_events=n),
            tcp_request,
            b"put x y\n",
            Malformed("put is not supported"),
            Query(None, b"k"),
        ),
        id="tcp_table",
    ),
    pytest.param(
        Kind(
            SocketmapCodec,
            socketmap_request,
            encode_netstring(b"nomap k"),
            Malformed("unknown map"),
            Query(Table.FORWARD, b"k"),
        ),
        id="socketmap",
    ),
]


@pytest.mark.parametrize("kind", KINDS)
def test_ten_bad_requests_in_a_row_end_the_stream(kind: Kind) -> None:
    codec = kind.make(None)
    events = codec.receive(kind.bad * (MAX_BAD + 5) + kind.request(b"k"))
    fatal = Malformed(kind.bad_event.reason, fatal=True)
    assert events == [kind.bad_event] * (MAX_BAD - 1) + [fatal]
    assert codec.receive(kind.request(b"k")) == []  # nothing is read after the end
    assert not codec.more


@pytest.mark.parametrize("kind", KINDS)
def test_a_good_request_resets_the_count(kind: Kind) -> None:
    stream = (kind.bad * (MAX_BAD - 1) + kind.request(b"k")) * 3
    expected = ([kind.bad_event] * (MAX_BAD - 1) + [kind.good_event]) * 3
    assert kind.make(None).receive(stream) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_max_events_holds_the_rest_back_in_order(kind: Kind) -> None:
    codec = kind.make(4)
    keys = [b"k%d" % i for i in range(10)]
    first = codec.receive(b"".join(kind.request(k) for k in keys))
    assert len(first) == 4 and codec.more
    second = codec.receive(b"")
    assert len(second) == 4 and codec.more
    third = codec.receive(b"")
    assert len(third) == 2 and not codec.more
    assert [e.key for e in first + second + third if isinstance(e, Query)] == keys
    assert codec.receive(b"") == []


@pytest.mark.parametrize("kind", KINDS)
def test_held_back_requests_and_new_data_keep_their_order(kind: Kind) -> None:
    """A read arriving while requests are held back (the server never lets that happen, but
    the codec must not reorder if it does) is decoded after them."""
    codec = kind.make(2)
    events = codec.receive(kind.request(b"a") + kind.request(b"b") + kind.request(b"c"))
    events += codec.receive(kind.request(b"d"))
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
