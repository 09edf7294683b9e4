"""The property that allows the fast path: for any request, under any setting, a connection
with the fast path writes the same reply bytes, the same log lines and the same metrics
counts as one without it (the same State less its ``fast``), and the fast path never raises
(it answers or hands the request back).

    python fast_equivalence.py LEVEL FORMAT EXAMPLES [MUTANT]

With a ``MUTANT``, Hypothesis runs derandomized (the same examples every time, so whether the
property catches that mutant does not change from run to run) and stops at the first failure.

Run by ``test_fast_path.py`` in a fresh process per log level and format (structlog caches
its loggers on first use, so one process logs at one level). Exits non-zero, with Hypothesis's
falsifying example, when the two paths differ. ``MUTANT`` breaks the fast path on purpose
(``MUTANTS``), so that the test can show the property catches such a change.

Requests: plain senders and recipients (odd case, quoted, ``=`` in the host, non-ASCII,
empty parts), SRS0/SRS1 addresses of our domain minted today, minted up to ``max_age + 2``
days ago, tampered with (case smashed, a hash character changed) or made up, SRS addresses of
other domains, our own domain, excluded senders, database-alias shapes (plain and quoted),
keys too long, and bytes; sent as Postfix sends them, or %XX-encoded, with CR LF, other
command spellings, unknown socketmap names, broken framing; one to six per connection, one
per read. Settings: hash input, alphabet, separator, hash length and minimum, maximum age,
always-rewrite, reverse-any-domain, accept-concatenated-before, one or two secrets, the day.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import io
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pysrsd.config.keyring import Keyring
from pysrsd.config.settings import Settings
from pysrsd.observe import logs, metrics
from pysrsd.policy import fast, tables
from pysrsd.policy.exclusions import parse_exclusions
from pysrsd.policy.refusals import RefusalLog
from pysrsd.policy.state import State, build_state
from pysrsd.service.hub import Hub
from pysrsd.service.server import EVENTS_PER_TURN, Connection
from pysrsd.srs import shortcut
from pysrsd.srs.engine import Rewritten
from pysrsd.wire.lookup import Table
from pysrsd.wire.socketmap import MAP_NAMES, SocketmapCodec, encode_netstring
from pysrsd.wire.tcp_table import TcpTableCodec

NOW = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC
DAY = 86400
DOMAIN = "Fwd.Example"  # mixed case: compared case-insensitively, written as configured
EXCLUDE = b"excluded.example\n.sub.example\n@at.example\nsomeone@example.org\n"
SECRETS = (b"fast-path-property-secret", b"an-older-secret-still-verifying")
_TS = re.compile(r"""(ts=|"ts": )(['"])[0-9T:.Z-]+['"]""")
CAPTURE = io.StringIO()


def sink() -> tuple[bytearray, mock.Mock]:
    """A transport that keeps what a Connection writes to it."""
    written = bytearray()
    transport = mock.Mock()
    transport.write.side_effect = written.extend
    transport.is_closing.return_value = False
    transport.get_write_buffer_size.return_value = 0
    return written, transport


@dataclasses.dataclass
class Holder:
    """What the hub reads of the runtime."""

    state: State


def make_state(config: dict[str, Any], day: int) -> State:
    values = {"domain": DOMAIN, "secrets_file": Path("/nonexistent/secrets"), **config}
    secrets = SECRETS[: values.pop("secrets")]  # a copy of config: it is drawn once
    keyring = Keyring(secrets=secrets, fingerprint="test", too_open=False)
    return build_state(
        Settings.model_construct(**values),
        keyring,
        parse_exclusions(EXCLUDE),
        lambda: NOW + day * DAY,
    )


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    length, minimum = draw(st.sampled_from([(4, 4), (8, 4), (27, 27), (6, 1), (1, 1)]))
    max_age = draw(st.sampled_from([1, 3, 21]))
    before = draw(st.none() | st.integers(-25, 5))
    return {
        "hash_input": draw(st.sampled_from(["separated", "concatenated"])),
        "hash_alphabet": draw(st.sampled_from(["base64url", "base64"])),
        "separator": draw(st.sampled_from(["=", "+", "-"])),
        "hash_length": length,
        "hash_min": minimum,
        "max_age": max_age,
        "always_rewrite": draw(st.booleans()),
        "reverse_any_domain": draw(st.booleans()),
        "accept_concatenated_before": None
        if before is None
        else datetime.date(2024, 6, 1) + datetime.timedelta(days=before),
        "secrets": draw(st.sampled_from([1, 2])),
    }


USERS = st.text(alphabet="abXY09._-+", min_size=1, max_size=8).map(str.encode)
ODD_USERS = st.text(alphabet='abXY09._-+="@% é\x01', max_size=8).map(str.encode)
HOSTS = st.sampled_from(  # Hypothesis favours the first: one the fast path must not take
    [
        b"a.sub.example",
        b"example.com",
        b"fwd.example",
        b"EXAMPLE.org",
        b"Excluded.Example",
        b"FWD.example",
        b"excluded.example",
        b"sub.example",
        b"at.example",
        b"h=x.example",
        b"",
        b"other.example",
        b"1",
        b"x\xc3\xa9.example",
    ]
)
# Most requests as Postfix sends them (what the fast path takes), the rest otherwise.
CASES: list[Callable[[bytes], bytes]] = [bytes] * 5 + [bytes.upper, bytes.lower, bytes.swapcase]


def plain() -> st.SearchStrategy[bytes]:
    clean = st.builds(lambda u, h: u + b"@" + h, USERS, HOSTS)
    return st.one_of(
        clean,
        clean,
        clean,
        st.builds(lambda u, h: u + b"@" + h, ODD_USERS, HOSTS),
        st.builds(lambda u, h: b'"' + u + b'"@' + h, ODD_USERS, HOSTS),
        st.sampled_from([b"someone@example.org", b"SomeOne@Example.Org", b"postmaster"]),
    )


def minted(state: State, key: bytes) -> bytes:
    outcome = state.engine.forward(key)
    return outcome.address if isinstance(outcome, Rewritten) else key


def tampered(key: bytes, at: int, how: int) -> bytes:
    """``key`` with one byte of its hash changed: case flipped, or replaced."""
    start = 5
    end = key.find(b"=", start)
    if end <= start:
        return key
    i = start + at % (end - start)
    new = bytes([key[i]]).swapcase() if how else b"A" if key[i : i + 1] != b"A" else b"B"
    return key[:i] + new + key[i + 1 :]


def keys(state: State, old: list[State], table: Table) -> st.SearchStrategy[bytes]:
    """Keys for ``table``: mostly what it is asked every day, and every odd shape besides."""
    ours = st.builds(minted, st.sampled_from([*old, state]), plain())  # expired first
    twice = st.builds(
        minted, st.just(state), st.builds(minted, st.sampled_from([*old, state]), plain())
    )
    made_up = st.builds(
        lambda tag, sep, h, t, host, user, dom: (
            b"%s%s%s=%s=%s=%s@%s" % (tag, sep, h, t, host, user, dom)
        ),
        st.sampled_from([b"SRS0", b"srs0", b"SRS1", b"SrS0"]),
        st.sampled_from([b"=", b"+", b"-", b"x"]),
        st.sampled_from([b"AAAA", b"", b"abcdefgh", b"A" * 30]),
        st.sampled_from([b"AA", b"zz", b"A", b"7Q"]),
        HOSTS,
        USERS,
        st.sampled_from([b"fwd.example", b"FWD.EXAMPLE", b"other.example", b""]),
    )
    alias = st.builds(
        lambda k, q: (b'"%s"@1' if q else b"%s@1") % k,
        st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVabc", min_size=31, max_size=33).map(
            str.encode
        ),
        st.booleans(),
    )
    common = [plain()] * 4 if table is Table.FORWARD else [ours] * 4
    return st.one_of(
        *common,
        plain(),
        ours,
        twice,
        st.builds(tampered, ours, st.integers(0, 40), st.integers(0, 1)),
        made_up,
        alias,
        st.builds(minted, st.just(state), alias),
        st.integers(1000, 1030).map(lambda n: b"a" * (n - 12) + b"@example.com"),
        st.binary(max_size=40),
    ).flatmap(lambda k: st.sampled_from(CASES).map(lambda case: case(k)))


def tcp_request(key: bytes, escape: set[int], spelling: bytes, end: bytes) -> bytes:
    """As Postfix writes it: bytes it would misread %XX-encoded, some others too."""
    out = bytearray()
    for i, b in enumerate(key):
        if b <= 0x20 or b == 0x25 or b >= 0x7F or i in escape:
            out += b"%%%02X" % b
        else:
            out.append(b)
    return spelling + b" " + bytes(out) + end


def socketmap_request(key: bytes, name: bytes, frame: int) -> bytes:
    if frame == 1:  # a length that does not match
        return b"%d:%s %s," % (len(name) + len(key) + 2, name, key)
    return encode_netstring(name + b" " + key)


RAISED: list[BaseException] = []  # what the fast path raised (the connection hides it)


def never_raises(lookup: fast.Lookup) -> fast.Lookup:
    """``lookup``, keeping what it raises: the connection would answer through the general
    path and nobody would know that the fast path had failed."""

    def kept(state: fast.FastPath, table: Table, key: bytes) -> fast.Result:
        try:
            return lookup(state, table, key)
        except Exception as exc:
            RAISED.append(exc)
            raise

    return kept


@dataclasses.dataclass
class Listener:
    table: Table
    protocol: str
    max_line: int


async def exchange(
    state: State, listener: Listener, reads: list[bytes], live: metrics.LiveMetrics
) -> bytes:
    hub = Hub(Holder(state), 10, 300.0)  # type: ignore[arg-type]
    table, protocol = listener.table, listener.protocol
    codec = (
        TcpTableCodec(listener.max_line, EVENTS_PER_TURN)
        if protocol == "tcp_table"
        else SocketmapCodec(EVENTS_PER_TURN)
    )
    conn = Connection(
        hub,
        table,
        codec,
        live.meter(protocol, tables.lookup),
        live.meter(
            protocol, never_raises(fast.lookup_for(table if protocol == "tcp_table" else None))
        ),
    )
    written, transport = sink()
    conn.connection_made(transport)
    for data in reads:
        conn.data_received(data)
        await asyncio.sleep(0)  # the log lines of this turn are written
    conn.connection_lost(None)
    await asyncio.sleep(0)
    return bytes(written)


def side(state: State, listener: Listener, reads: list[bytes], live: Any) -> object:
    """What one connection wrote, logged and counted for ``reads``."""
    tables.REFUSALS = RefusalLog(clock=lambda: 0.0)  # each side starts with the same budget
    reply = asyncio.run(exchange(state, listener, reads, live))
    lines = [_TS.sub(r"\1<ts>", line) for line in CAPTURE.getvalue().splitlines()]
    CAPTURE.seek(0)
    CAPTURE.truncate()
    return reply, lines, [c.counts for c in live.counts.values()]


def main(level: str, fmt: str, examples: int, mutant: str | None) -> None:
    logs.configure(level, fmt, stream=CAPTURE)
    if mutant is not None:
        MUTANTS[mutant]()
    lives = [metrics.LiveMetrics(None, [], False) for _ in range(2)]  # type: ignore[arg-type]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=mutant is not None,
        phases=[Phase.generate] if mutant else list(Phase),  # a mutant: the first failure
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(config=configs(), day=st.integers(-3, 3), data=st.data())
    def fast_path_is_the_general_path(
        config: dict[str, Any], day: int, data: st.DataObject
    ) -> None:
        state = make_state(config, day)
        old = [make_state(config, day - n) for n in (config["max_age"] + 1, config["max_age"], 1)]
        protocol = data.draw(st.sampled_from(["tcp_table", "socketmap"]))
        table = data.draw(st.sampled_from([Table.FORWARD, Table.REVERSE]))
        listener = Listener(table, protocol, data.draw(st.sampled_from([16384, 256])))
        chosen = data.draw(st.lists(keys(state, old, table), min_size=1, max_size=6))
        reads = []
        for key in chosen:
            if protocol == "tcp_table":
                odd = data.draw(st.sampled_from([False] * 4 + [True]))
                escape = data.draw(st.sets(st.integers(0, len(key)))) if odd else set()
                spelling = data.draw(st.sampled_from([b"get"] * 6 + [b"GET", b"put", b"x"]))
                end = data.draw(st.sampled_from([b"\n"] * 6 + [b"\r\n"]))
                reads.append(tcp_request(key, escape, spelling, end))
            else:
                names = [n for n, t in MAP_NAMES.items() if t is table] * 3 + [b"bogus", b"Forward"]
                name = data.draw(st.sampled_from(names))
                reads.append(
                    socketmap_request(key, name, data.draw(st.sampled_from([0] * 6 + [1])))
                )
        if len(reads) > 1 and data.draw(st.sampled_from([False] * 4 + [True])):  # pipelined
            reads[:2] = [reads[0] + reads[1]]
        general = side(dataclasses.replace(state, fast=None), listener, reads, lives[0])
        quick = side(state, listener, reads, lives[1])
        assert quick == general
        assert not RAISED, f"the fast path raised {RAISED!r}"

    fast_path_is_the_general_path()


MUTANTS: dict[str, Callable[[], None]] = {}


def mutant(function: Callable[[], None]) -> Callable[[], None]:
    MUTANTS[function.__name__] = function
    return function


@mutant
def accepts_a_stamp_one_day_too_old() -> None:
    valid = shortcut.valid_stamps
    shortcut.valid_stamps = lambda day, max_age: valid(day, max_age + 1)  # type: ignore[assignment]


@mutant
def ignores_parent_exclusions() -> None:
    init = fast.FastPath.__init__

    def without_parents(self: Any, srs0: Any, exclusions: Any, **values: Any) -> None:
        init(self, srs0, dataclasses.replace(exclusions, parents=frozenset()), **values)

    fast.FastPath.__init__ = without_parents  # type: ignore[method-assign]


@mutant
def takes_case_smashed_hashes() -> None:
    shortcut.hmac = type(  # type: ignore[assignment]
        "AnyCase", (), {"compare_digest": staticmethod(lambda a, b: a.lower() == b.lower())}
    )


@mutant
def answers_not_found_at_debug() -> None:
    fast.logs = type("Quiet", (), {"debug_enabled": False, "rewrite": logs.rewrite})  # type: ignore[assignment]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
