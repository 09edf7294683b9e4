"""Hash input, alphabet, the acceptance window and the day stamp (pysrsd.srs.hashing, via Engine).

Expected hashes come from ``spec_hash`` below, written from the specification (docs/hash.md)
with the standard ``hmac`` module, never from pysrsd's output. Classic (concatenated)
addresses for the window come from ``classic_srs0``, the libsrs2/Mail::SRS algorithm.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import hmac

import pytest

from pysrsd.srs.engine import Engine, Rewritten, Unchanged
from pysrsd.srs.hashing import Window, describe

SECRET = b"hashing unit secret, 32 bytes.."
DOMAIN = b"fwd.example"
DAY = 86400
B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SWITCH = datetime.date(2026, 3, 10)  # the day a site moves from concatenated to separated
MAX_AGE = 21


def at(day: datetime.date, hour: int = 12) -> float:
    return float(calendar.timegm((day.year, day.month, day.day, hour, 0, 0)))


def stamp(day: datetime.date) -> bytes:
    n = (day - datetime.date(1970, 1, 1)).days
    return bytes((B32[(n >> 5) & 31], B32[n & 31]))


def spec_hash(text: bytes, length: int = 4, url: bool = True) -> bytes:
    """docs/hash.md: base64 of HMAC-SHA1 over the lower-cased text, cut to length."""
    encoded = base64.b64encode(hmac.new(SECRET, text.lower(), hashlib.sha1).digest())[:length]
    return encoded.translate(bytes.maketrans(b"+/", b"-_")) if url else encoded


def classic_srs0(user: bytes, host: bytes, day: datetime.date) -> bytes:
    """libsrs2 / Mail::SRS: HMAC over lower(stamp) + lower(host) + lower(user), base64."""
    ts = stamp(day)
    hash_ = spec_hash(ts + host + user, url=False)
    return b"SRS0=%s=%s=%s=%s@%s" % (hash_, ts, host, user, DOMAIN)


def engine(now: float, **kw: object) -> Engine:
    return Engine([SECRET], DOMAIN, max_age=MAX_AGE, clock=lambda: now, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("separator", [b"=", b"+", b"-"])
@pytest.mark.parametrize("url", [True, False], ids=["base64url", "base64"])
def test_separated_srs0_is_the_specified_hmac(separator: bytes, url: bool) -> None:
    day = datetime.date(2026, 5, 1)
    alphabet = "base64url" if url else "base64"
    ts = stamp(day)
    for user in (b"Alice", b"a=b", b"x" * 40):
        got = engine(at(day), separator=separator, hash_alphabet=alphabet).forward(
            user + b"@Example.COM"
        )
        text = b"SRS0=%s=Example.COM=%s" % (ts, user)  # always "=", whatever the separator
        want = b"SRS0%s%s=%s=Example.COM=%s@%s" % (
            separator,
            spec_hash(text, url=url),
            ts,
            user,
            DOMAIN,
        )
        assert got == Rewritten(want)


def test_separated_srs1_is_the_specified_hmac() -> None:
    foreign = b"SRS0+abcd=JO=orig.example=bob@hop1.example"
    got = engine(at(SWITCH)).forward(foreign)
    rest = b"+abcd=JO=orig.example=bob"
    want = b"SRS1=%s=hop1.example=%s@%s" % (spec_hash(b"SRS1=hop1.example=" + rest), rest, DOMAIN)
    assert got == Rewritten(want)


def test_hash_with_plus_and_slash_verifies_in_both_alphabets() -> None:
    """New hashes use one alphabet; any given hash may use either, in any case."""
    now = at(SWITCH)
    for n in range(1000):
        user = b"u%d" % n
        full = spec_hash(b"SRS0=%s=h.example=%s" % (stamp(SWITCH), user), length=8, url=False)
        if b"+" in full and b"/" in full:
            break
    else:
        pytest.fail("no hash with both '+' and '/'")
    srs = engine(now, hash_length=8).forward(user + b"@h.example")
    assert isinstance(srs, Rewritten)
    assert srs.address.split(b"=")[1] == full.translate(bytes.maketrans(b"+/", b"-_"))
    std = engine(now, hash_length=8, hash_alphabet="base64").forward(user + b"@h.example")
    assert isinstance(std, Rewritten) and std.address.split(b"=")[1] == full
    mixed = std.address.replace(b"+", b"-", 1)  # one character of each alphabet
    for address in (srs.address, std.address, mixed, std.address.upper()):
        for alphabet in ("base64url", "base64"):
            back = engine(now, hash_length=8, hash_alphabet=alphabet).reverse(address)
            assert isinstance(back, Rewritten), (address, alphabet)
            assert back.address.lower() == user + b"@h.example"


@pytest.mark.parametrize(
    ("minted", "today", "verifies"),
    [
        pytest.param(SWITCH - datetime.timedelta(days=1), SWITCH, True, id="eve-of-switch"),
        pytest.param(SWITCH, SWITCH, False, id="switch-day"),
        pytest.param(
            SWITCH + datetime.timedelta(days=3),
            SWITCH + datetime.timedelta(days=3),
            False,
            id="after",
        ),
        pytest.param(
            SWITCH - datetime.timedelta(days=1),
            SWITCH + datetime.timedelta(days=MAX_AGE - 1),
            True,
            id="last-day",
        ),
        pytest.param(
            SWITCH - datetime.timedelta(days=1),
            SWITCH + datetime.timedelta(days=MAX_AGE),
            False,
            id="closed",
        ),
        pytest.param(
            SWITCH - datetime.timedelta(days=MAX_AGE),
            SWITCH,
            True,
            id="oldest-in-flight",
        ),
        pytest.param(
            SWITCH - datetime.timedelta(days=1024 - 5),
            SWITCH + datetime.timedelta(days=5),
            False,
            id="stamp-of-the-previous-cycle",
        ),
    ],
)
def test_classic_hash_verifies_only_on_addresses_stamped_before_the_date(
    minted: datetime.date, today: datetime.date, verifies: bool
) -> None:
    address = classic_srs0(b"alice", b"example.com", minted)
    window = engine(at(today), accept_concatenated_before=SWITCH).reverse(address)
    assert isinstance(window, Rewritten) is verifies, window
    assert isinstance(engine(at(today)).reverse(address), Unchanged)  # no window: never


def test_window_edges_by_the_hour() -> None:
    """The date is a UTC day: stamps of 23:59 the day before still count, 00:00 does not."""
    eve = classic_srs0(b"alice", b"example.com", SWITCH - datetime.timedelta(days=1))
    switch = classic_srs0(b"alice", b"example.com", SWITCH)
    srs = engine(at(SWITCH, hour=0), accept_concatenated_before=SWITCH)
    assert isinstance(srs.reverse(eve), Rewritten)
    assert isinstance(srs.reverse(switch), Unchanged)


def test_classic_srs1_is_judged_by_the_stamp_it_carries() -> None:
    rest = b"=abcd=%s=orig.example=bob"
    srs = engine(at(SWITCH), accept_concatenated_before=SWITCH)
    cases = [
        (SWITCH - datetime.timedelta(days=2), True),
        (SWITCH, False),
        (SWITCH - datetime.timedelta(days=MAX_AGE + 1), False),  # the window closes by itself
    ]
    for day, verifies in cases:
        inner = rest % stamp(day)
        hash_ = spec_hash(b"hop1.example" + inner, url=False)
        address = b"SRS1=%s=hop1.example=%s@%s" % (hash_, inner, DOMAIN)
        assert isinstance(srs.reverse(address), Rewritten) is verifies


def test_concatenated_mode_matches_the_classic_algorithm_and_ignores_the_window() -> None:
    day = SWITCH + datetime.timedelta(days=2)
    srs = engine(at(day), hash_input="concatenated", hash_alphabet="base64")
    address = classic_srs0(b"alice", b"example.com", day)
    assert srs.forward(b"alice@example.com") == Rewritten(address)
    assert srs.reverse(address) == Rewritten(b"alice@example.com")
    separated = engine(at(day)).forward(b"alice@example.com")
    assert isinstance(separated, Rewritten)
    assert isinstance(srs.reverse(separated.address), Unchanged)


def test_one_byte_stamp_that_unicode_uppercases_to_a_valid_stamp_is_refused() -> None:
    """0xDF is "ß" in latin-1, and "ß".upper() == "SS": a valid stamp on some days."""
    ss = (B32.index(b"S") * 32 + B32.index(b"S")) % 1024
    day = datetime.date(1970, 1, 1) + datetime.timedelta(days=1024 * 20 + ss)
    assert stamp(day) == b"SS"
    text = b"SRS0=\xdf=example.com=alice"
    address = b"SRS0=%s=\xdf=example.com=alice@%s" % (spec_hash(text), DOMAIN)
    assert engine(at(day)).reverse(address) == Unchanged("expired or invalid day stamp")
    genuine = b"SRS0=%s=ss=example.com=alice@%s" % (spec_hash(b"SRS0=ss=example.com=alice"), DOMAIN)
    assert engine(at(day)).reverse(genuine) == Rewritten(b"alice@example.com")  # any ASCII case


@pytest.mark.parametrize(
    ("mode", "window", "today", "expected"),
    [
        pytest.param("separated", None, SWITCH, "none: classic", id="no-window"),
        pytest.param("concatenated", None, SWITCH, "none needed", id="concatenated"),
        pytest.param("separated", SWITCH, SWITCH + datetime.timedelta(days=20), "open", id="open"),
        pytest.param(
            "separated", SWITCH, SWITCH + datetime.timedelta(days=21), "closed", id="closed"
        ),
    ],
)
def test_describe_says_the_mode_and_the_window(
    mode: str, window: datetime.date | None, today: datetime.date, expected: str
) -> None:
    day = (today - datetime.date(1970, 1, 1)).days
    lines = describe(mode, "base64url", window and Window(window, MAX_AGE), day)  # type: ignore[arg-type]
    assert lines[0].startswith(f"hash:        {mode} input")
    assert lines[1].startswith(f"window:      {expected}")
    if window:
        assert "last day 2026-03-30" in lines[1]
