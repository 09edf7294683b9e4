"""Engine behaviour that does not need an oracle: safety under ``python -O``, the clock, and
the shape of what it refuses. Byte-compatibility is in test_engine_oracles.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pysrsd.srs.engine import Engine, Rewritten, Unchanged, is_srs

DAY = 86400
NOW = 1_760_000_000.0
SECRET = b"engine unit secret"


def engine(now: float = NOW, **kw: object) -> Engine:
    return Engine([SECRET], b"fwd.example", clock=lambda: now, **kw)  # type: ignore[arg-type]


def forwarded(address: bytes, now: float = NOW, **kw: object) -> bytes:
    outcome = engine(now, **kw).forward(address)
    assert isinstance(outcome, Rewritten), outcome
    return outcome.address


def test_forged_address_is_refused_under_python_dash_O() -> None:
    """pysrsd's verification never relies on ``assert``: ``python -O`` strips asserts, and
    pysrs's own parse() would then reverse a forged address (an open relay)."""
    program = (
        "from pysrsd.srs.engine import Engine\n"
        "e = Engine([b'real secret'], b'fwd.example')\n"
        "forged = Engine([b'attacker'], b'fwd.example').forward(b'victim@example.com').address\n"
        "junk = b'SRS0=x=y=z=w@fwd.example'\n"
        "print(type(e.reverse(forged)).__name__, type(e.reverse(junk)).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-O", "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["Unchanged", "Unchanged"]


@pytest.mark.parametrize(
    ("age_days", "valid"),
    [
        pytest.param(0, True, id="today"),
        pytest.param(21, True, id="last-valid-day"),
        pytest.param(22, False, id="expired"),
        pytest.param(-1, False, id="from-the-future"),
        pytest.param(1024, True, id="stamp-cycle-wraps"),  # the 2-char stamp repeats
    ],
)
def test_day_stamp_validity(age_days: int, valid: bool) -> None:
    address = forwarded(b"alice@example.com", now=NOW - age_days * DAY)
    outcome = engine().reverse(address)
    assert isinstance(outcome, Rewritten) is valid
    if not valid:
        assert outcome == Unchanged("expired or invalid day stamp")


def test_max_age_setting() -> None:
    address = forwarded(b"alice@example.com", now=NOW - 5 * DAY)
    assert isinstance(engine(max_age=5).reverse(address), Rewritten)
    assert isinstance(engine(max_age=4).reverse(address), Unchanged)


def test_old_secret_verifies_but_does_not_sign() -> None:
    old = forwarded(b"bob@example.com")
    rotated = Engine([b"new secret", SECRET], b"fwd.example", clock=lambda: NOW)
    assert rotated.reverse(old) == Rewritten(b"bob@example.com")
    new = rotated.forward(b"bob@example.com")
    assert isinstance(new, Rewritten) and new.address != old
    assert isinstance(engine().reverse(new.address), Unchanged)


@pytest.mark.parametrize(
    ("hash_length", "hash_min", "given", "valid"),
    [
        pytest.param(8, 4, 4, True, id="shortened-to-min"),
        pytest.param(8, 4, 3, False, id="below-min"),
        pytest.param(4, 4, 8, True, id="longer-than-written"),  # postsrsd 1.10 and Mail::SRS
    ],
)
def test_hash_length_window(hash_length: int, hash_min: int, given: int, valid: bool) -> None:
    full = Engine([SECRET], b"fwd.example", hash_length=27, hash_min=1, clock=lambda: NOW)
    address = full.forward(b"carol@example.com")
    assert isinstance(address, Rewritten)
    tag, hash_, rest = address.address.split(b"=", 2)
    shortened = b"=".join([tag, hash_[:given], rest])
    outcome = engine(hash_length=hash_length, hash_min=hash_min).reverse(shortened)
    assert isinstance(outcome, Rewritten) is valid


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(b"no-at-sign", id="no-at"),
        pytest.param(b"@example.com", id="empty-local"),
        pytest.param(b"user@", id="empty-domain"),
        pytest.param(b"a@b@example.com", id="unquoted-at-in-local"),
        pytest.param(b"SRS1=onlyhash@other.example", id="srs1-missing-fields"),
        pytest.param(b"a" * 1020 + b"@example.com", id="too-long"),
    ],
)
def test_forward_refuses(address: bytes) -> None:
    assert isinstance(engine().forward(address), Unchanged)


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(b"alice@example.com", id="not-srs"),
        pytest.param(b"SRS0=HHHH=TT=example.com@fwd.example", id="srs0-missing-user"),
        pytest.param(b"SRS0=HHHH@fwd.example", id="srs0-missing-fields"),
        pytest.param(b"SRS1=HHHH=host@fwd.example", id="srs1-missing-fields"),
        pytest.param(b"SRS0=HHHH=!!=example.com=alice@fwd.example", id="bad-stamp-chars"),
        pytest.param(b"SRS2=HHHH=TT=example.com=alice@fwd.example", id="srs2"),
        pytest.param(b"SRS0", id="bare-tag"),
    ],
)
def test_reverse_refuses(address: bytes) -> None:
    assert isinstance(engine().reverse(address), Unchanged)


def test_quoted_local_part_round_trips_with_quotes_outside() -> None:
    address = forwarded(b'"john doe"@example.com')
    assert address.startswith(b'"SRS0=') and address.endswith(b'=john doe"@fwd.example')
    assert engine().reverse(address) == Rewritten(b'"john doe"@example.com')


def test_every_byte_survives_the_round_trip() -> None:
    local = bytes(b for b in range(1, 256) if b not in b'@"')
    address = forwarded(local + b"@example.com")
    assert engine().reverse(address) == Rewritten(local + b"@example.com")


def test_srs1_reverses_to_the_first_hop_srs0() -> None:
    first_hop = Engine([b"first hop"], b"hop1.example", clock=lambda: NOW)
    srs0 = first_hop.forward(b"dave@example.com")
    assert isinstance(srs0, Rewritten)
    srs1 = forwarded(srs0.address)
    assert srs1.startswith(b"SRS1=") and srs1.endswith(b"@fwd.example")
    assert engine().reverse(srs1) == Rewritten(srs0.address)
    assert first_hop.reverse(srs0.address) == Rewritten(b"dave@example.com")


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"separator": b"*"}, id="separator"),
        pytest.param({"hash_length": 4, "hash_min": 5}, id="hash-min-over-length"),
        pytest.param({"hash_length": 28}, id="hash-too-long"),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Engine([SECRET], b"fwd.example", **kwargs)  # type: ignore[arg-type]


def test_no_secret_raises() -> None:
    with pytest.raises(ValueError):
        Engine([], b"fwd.example")


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(b"SRS1= SRS1=\xff\xff\xff\xff=@d.example", id="fuzz-seed-empty-user"),
        pytest.param(b"SRS1=hash=host=@other.example", id="empty-user"),
        pytest.param(b"SRS1=hash==user@other.example", id="empty-host"),
    ],
)
def test_srs1_with_an_empty_field_is_not_rewritten(address: bytes) -> None:
    """Whatever forward rewrites, reverse must accept: an SRS1 with an empty field would not."""
    assert engine().forward(address) == Unchanged("malformed SRS1 address")


@given(
    local=st.binary(min_size=1, max_size=60).filter(
        lambda b: b"@" not in b and b'"' not in b and not is_srs(b)
    ),
    host=st.binary(min_size=1, max_size=60).filter(lambda b: b"@" not in b and b"=" not in b),
)
def test_bytes_fast_path_equals_pysrs_path(local: bytes, host: bytes) -> None:
    """Plain senders are signed on bytes; pysrs's own Base.forward → Shortcut.compile (with
    our Python 3 hash) must give the same bytes."""
    e = engine()
    address = local + b"@" + host
    through_pysrs = e._guarded.forward(address.decode("latin-1"), "fwd.example")
    assert e.forward(address) == Rewritten(through_pysrs.encode("latin-1"))
