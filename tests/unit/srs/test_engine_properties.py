"""Properties of pysrsd.srs.engine over arbitrary bytes (Hypothesis); no oracle needed.

- forward then reverse gives the original back, for every address forward rewrites;
- reverse never rewrites an address signed with another secret, with a mutated hash, or with a
  day stamp older than max_age (or from the future);
- nothing raises, whatever the bytes.
Negative properties use 8-character hashes so a chance HMAC collision (case-insensitive, about
one in 38**n) cannot make them flaky.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import b64encode

from hypothesis import assume, example, given
from hypothesis import strategies as st

from pysrsd.srs.engine import SEPARATORS, Engine, Rewritten, Unchanged, is_srs

DOMAIN = b"fwd.example"
NOW = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC
DAY = 86400
MAX_AGE = 21

# Domains may hold any byte but '@', NUL and '=' (the SRS field separator: a host with '='
# cannot be told from the user field, in any SRS implementation).
local_parts = st.binary(min_size=1, max_size=80).filter(lambda b: b"@" not in b and b"\0" not in b)
domains = st.binary(min_size=1, max_size=80).filter(lambda b: not any(c in b for c in b"@\0="))
secrets = st.binary(min_size=1, max_size=40)
separators = st.sampled_from([bytes([c]) for c in SEPARATORS])


def engine(secret: bytes, separator: bytes = b"=", now: float = NOW, length: int = 8) -> Engine:
    return Engine(
        [secret],
        DOMAIN,
        separator=separator,
        hash_length=length,
        hash_min=min(4, length),
        max_age=MAX_AGE,
        clock=lambda: now,
    )


def unquoted(local: bytes) -> bytes:
    return local[1:-1] if len(local) >= 2 and local[:1] == local[-1:] == b'"' else local


@given(local_parts, domains, secrets, separators, st.sampled_from([4, 8]))
@example(b'"john doe"', b"example.com", b"k", b"=", 4)
@example(b"caf\xc3\xa9", b"\xc3\xa9x.com", b"k", b"+", 4)
@example(b"a=b+c-d", b"single", b"k", b"-", 8)
def test_forward_then_reverse_round_trips(
    local: bytes, domain: bytes, secret: bytes, separator: bytes, length: int
) -> None:
    address = local + b"@" + domain
    srs = engine(secret, separator, length=length)
    forwarded = srs.forward(address)
    if isinstance(forwarded, Unchanged):
        return
    back = srs.reverse(forwarded.address)
    if not is_srs(unquoted(local)):
        assert back == Rewritten(address)
    elif unquoted(local)[:4] == b"SRS0":
        # SRS0 minted elsewhere → SRS1 here → back to the very same SRS0 address.
        assert back == Rewritten(address)
    else:
        # SRS1 minted elsewhere (Guarded shortcut) reverses to the SRS0 at the first hop.
        assert isinstance(back, Rewritten)
        assert back.address[:4] == b"SRS0"


@given(local_parts, domains, secrets, secrets)
def test_other_secret_never_reverses(
    local: bytes, domain: bytes, mine: bytes, theirs: bytes
) -> None:
    assume(mine != theirs)
    forwarded = engine(theirs).forward(local + b"@" + domain)
    if isinstance(forwarded, Rewritten):
        assert isinstance(engine(mine).reverse(forwarded.address), Unchanged)


def folded(char: bytes) -> bytes:
    """A hash character as verification sees it: any case, ``-``/``+`` and ``_``/``/`` equal."""
    return char.translate(bytes.maketrans(b"-_", b"+/")).lower()


@given(local_parts, domains, secrets, st.integers(0, 7), st.sampled_from(b"0123456789+/-_q"))
def test_mutated_hash_never_reverses(
    local: bytes, domain: bytes, secret: bytes, index: int, replacement: int
) -> None:
    srs = engine(secret)
    forwarded = srs.forward(local + b"@" + domain)
    if isinstance(forwarded, Unchanged):
        return
    address = forwarded.address
    start = address.index(b"SRS") + 5  # after the tag and separator, even when quoted
    hash_ = address[start : start + 8]
    assume(folded(bytes([replacement])) != folded(hash_[index : index + 1]))
    mutated = bytearray(address)
    mutated[start + index] = replacement
    assert isinstance(srs.reverse(bytes(mutated)), Unchanged)


@given(
    local_parts,
    domains,
    secrets,
    st.one_of(st.integers(MAX_AGE + 1, 1023), st.integers(-(1024 - MAX_AGE - 1), -1)),
)
def test_expired_or_future_stamp_never_reverses(
    local: bytes, domain: bytes, secret: bytes, days: int
) -> None:
    assume(not is_srs(unquoted(local)))  # SRS1 carries no stamp
    forwarded = engine(secret).forward(local + b"@" + domain)
    if isinstance(forwarded, Unchanged):
        return
    later = engine(secret, now=NOW + days * DAY)
    assert isinstance(later.reverse(forwarded.address), Unchanged)


@given(local_parts, domains, secrets, st.integers(0, MAX_AGE))
def test_stamp_within_max_age_reverses(
    local: bytes, domain: bytes, secret: bytes, days: int
) -> None:
    address = local + b"@" + domain
    assume(not is_srs(unquoted(local)))
    forwarded = engine(secret).forward(address)
    if isinstance(forwarded, Rewritten):
        later = engine(secret, now=NOW + days * DAY)
        assert later.reverse(forwarded.address) == Rewritten(address)


def _signed_srs0(secret: bytes, stamp: bytes, host: bytes, user: bytes) -> bytes:
    """Signed as docs/hash.md specifies the default (separated) input."""
    mac = hmac.new(secret, (b"SRS0=%s=%s=%s" % (stamp, host, user)).lower(), hashlib.sha1)
    return b"SRS0=" + b64encode(mac.digest())[:8] + b"=" + stamp + b"=" + host + b"=" + user


srs_like = st.builds(
    lambda tag, sep, rest: tag + sep + rest,
    st.sampled_from([b"SRS0", b"SRS1", b"srs0", b"sRs1", b'"SRS0', b"SRS"]),
    st.sampled_from([b"=", b"+", b"-", b"", b"@"]),
    st.binary(max_size=200),
)
anything = st.one_of(
    st.binary(max_size=1200), srs_like, st.builds(bytes.__add__, srs_like, domains)
)


@given(anything, secrets, separators, st.floats(0, 2**33, allow_nan=False))
def test_nothing_raises_for_arbitrary_bytes(
    data: bytes, secret: bytes, separator: bytes, now: float
) -> None:
    srs = engine(secret, separator, now=now, length=4)
    for outcome in (srs.forward(data), srs.reverse(data)):
        assert isinstance(outcome, Rewritten | Unchanged)


@given(secrets, st.binary(max_size=30), st.binary(max_size=30))
def test_a_valid_signature_on_odd_fields_never_raises(
    secret: bytes, host: bytes, user: bytes
) -> None:
    """Correctly signed SRS0 with arbitrary host/user bytes: any outcome, but no exception."""
    stamp = b"ND"  # today at NOW
    address = _signed_srs0(secret, stamp, host, user) + b"@" + DOMAIN
    outcome = engine(secret).reverse(address)
    assert isinstance(outcome, Rewritten | Unchanged)
    if isinstance(outcome, Rewritten) and b"=" not in host and b"@" not in user + host:
        assert outcome.address == user + b"@" + host


def test_lone_quote_local_part_round_trips() -> None:
    srs = engine(b"k1", length=4)
    forwarded = srs.forward(b'"@example.com')
    assert isinstance(forwarded, Rewritten)
    assert srs.reverse(forwarded.address) == Rewritten(b'"@example.com')
