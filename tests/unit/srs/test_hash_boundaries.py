"""Boundary binding as a property: no boundary shift of an address minted in the default
(separated) mode verifies. Moving characters between the host and the user field, or between
the day stamp and the host, or presenting an SRS0 hash as an SRS1 one (and the reverse),
leaves the classic concatenated HMAC input unchanged; the separated input binds every
boundary and the tag. The last test shows the same shifts do verify in concatenated mode, so
the properties are not vacuous.
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import example, given
from hypothesis import strategies as st

from pysrsd.srs.engine import Engine, Rewritten, Unchanged, is_srs

DOMAIN = b"fwd.example"
NOW = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC: day stamp "ND"
TODAY = b"ND"

# Plain fields (no "@", NUL, quotes; a host holds no "="), so every shift is a parseable address.
# Plain senders: an SRS0/SRS1-shaped one is forwarded as SRS1 (its own property below).
users = st.binary(min_size=1, max_size=30).filter(
    lambda b: not any(c in b for c in b'@\0"') and not is_srs(b)
)
hosts = st.binary(min_size=1, max_size=30).filter(lambda b: not any(c in b for c in b'@\0="'))
secrets = st.binary(min_size=1, max_size=32)


def engine(secret: bytes, mode: str = "separated") -> Engine:
    return Engine(
        [secret],
        DOMAIN,
        hash_length=8,  # a chance match is about 1 in 38**8: never flaky
        hash_min=8,
        hash_input=mode,  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


def fields(address: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(hash, stamp, host, user) of ``SRS0=HHHH=TT=host=user@DOMAIN``."""
    hash_, stamp, host, user = address.rpartition(b"@")[0][5:].split(b"=", 3)
    return hash_, stamp, host, user


def srs0(hash_: bytes, stamp: bytes, host: bytes, user: bytes) -> bytes:
    return b"SRS0=%s=%s=%s=%s@%s" % (hash_, stamp, host, user, DOMAIN)


def shifted_srs0(address: bytes) -> Iterator[bytes]:
    hash_, stamp, host, user = fields(address)
    for k in range(1, len(user)):  # user -> host
        yield srs0(hash_, stamp, host + user[:k], user[k:])
    for k in range(1, len(host)):  # host -> user
        yield srs0(hash_, stamp, host[:-k], host[-k:] + user)
    for k in range(1, len(host)):  # host -> stamp
        yield srs0(hash_, stamp + host[:k], host[k:], user)
    for k in range(1, len(stamp)):  # stamp -> host
        yield srs0(hash_, stamp[:-k], stamp[-k:] + host, user)
    text = stamp + host + user  # the same classic input, as an SRS1 address
    for k in range(1, len(text)):
        if b"=" not in text[:k]:
            yield b"SRS1=%s=%s=%s@%s" % (hash_, text[:k], text[k:], DOMAIN)
    joined = b"=".join((stamp, host, user))  # the same separated text after the tag
    for k, char in enumerate(joined):
        if char == ord("=") and b"=" not in joined[:k]:
            yield b"SRS1=%s=%s=%s@%s" % (hash_, joined[:k], joined[k + 1 :], DOMAIN)


def refused(srs: Engine, original: bytes, candidates: Iterator[bytes]) -> None:
    for candidate in candidates:
        if candidate.lower() != original.lower():
            assert isinstance(srs.reverse(candidate), Unchanged), candidate


@given(users, hosts, secrets)
@example(b"mbob", b"gmail.co", b"k")
@example(b"bob", b"gmail.com", b"k")
@example(b"=x", b"h", b"k")
def test_no_boundary_shift_of_an_srs0_address_verifies(
    user: bytes, host: bytes, secret: bytes
) -> None:
    srs = engine(secret)
    minted = srs.forward(user + b"@" + host)
    assert isinstance(minted, Rewritten)
    assert srs.reverse(minted.address) == Rewritten(user + b"@" + host)
    refused(srs, minted.address, shifted_srs0(minted.address))


def as_srs0(address: bytes) -> Iterator[bytes]:
    """An SRS1 hash over (host, rest) offered as SRS0 hashes over every split of host+rest
    whose first two characters are today's stamp."""
    hash_, host, rest = address.rpartition(b"@")[0][5:].split(b"=", 2)
    text = host + rest
    if text[:2].upper() != TODAY:
        return
    for i in range(3, len(text)):
        if b"=" not in text[2:i]:
            yield srs0(hash_, text[:2], text[2:i], text[i:])


@given(users, hosts, hosts, secrets)
@example(b"u", b"h", b"x.example", b"k")
def test_no_srs1_hash_verifies_as_srs0_or_shifted(
    user: bytes, host: bytes, first_hop: bytes, secret: bytes
) -> None:
    srs = engine(secret)
    foreign = b"SRS0=abcd=ZZ=%s=%s@%s%s" % (host, user, TODAY, first_hop)
    minted = srs.forward(foreign)
    assert isinstance(minted, Rewritten)
    assert minted.address.startswith(b"SRS1=")
    assert srs.reverse(minted.address) == Rewritten(foreign)
    refused(srs, minted.address, as_srs0(minted.address))
    hash_, hop, rest = minted.address.rpartition(b"@")[0][5:].split(b"=", 2)
    for k in range(1, len(hop)):  # host -> rest and back
        for candidate in (hop[:-k], hop[-k:] + rest), (hop + rest[:k], rest[k:]):
            address = b"SRS1=%s=%s=%s@%s" % (hash_, candidate[0], candidate[1], DOMAIN)
            if b"=" not in candidate[0] and address.lower() != minted.address.lower():
                assert isinstance(srs.reverse(address), Unchanged), address


def test_the_same_shifts_verify_in_concatenated_mode() -> None:
    """Why the default changed: with the classic input every shift above is a valid address."""
    classic = engine(b"k", "concatenated")
    minted = classic.forward(b"mbob@gmail.co")
    assert isinstance(minted, Rewritten)
    accepted = [
        a for a in shifted_srs0(minted.address) if isinstance(classic.reverse(a), Rewritten)
    ]
    assert srs0(*fields(minted.address)[:2], b"gmail.com", b"bob") in accepted
    assert any(a.startswith(b"SRS1=") for a in accepted)
    foreign = classic.forward(b"SRS0=abcd=ZZ=h=u@NDx.example")
    assert isinstance(foreign, Rewritten)
    assert any(isinstance(classic.reverse(a), Rewritten) for a in as_srs0(foreign.address))
