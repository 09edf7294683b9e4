"""pysrsd.srs.engine against the reference implementations, byte for byte.

Oracles (see ``tests/oracles.py``): Mail::SRS (Debian ``srs``) and postsrsd 1.10 (libsrs2),
postsrsd run under faketime, Mail::SRS with ``time`` overridden, our engine with its clock
injected, all at the same instant. Forward compares the three outputs; reverse compares what each
makes of oracle-minted SRS0/SRS1 addresses, case-smashed ones, ones signed with an old secret,
on other days, and tampered ones. Shapes where the oracles disagree with each other (or with a
decision stated in the engine docstring or docs/settings.md) are kept out of the corpus and
pinned one by one at the end of this file, each with the reason.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from oracles import (
    CLASSIC,
    DAY,
    DOMAIN,
    NOW,
    PostsrsdInstance,
    corpus,
    corpus_by_shape,
    found,
    mail_srs_forward,
    mail_srs_reverse,
)

from pysrsd.srs.engine import Engine, Rewritten, Unchanged, is_srs

pytestmark = [pytest.mark.oracle, pytest.mark.usefixtures("oracle_programs")]

SECRETS = [b"correct horse battery staple", b"k", b"S3cr=t+with/odd %20 chars\xc3\xa9"]
CORPUS = corpus()
B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
Results = list[bytes | None]
Column = Sequence[bytes | None]


@dataclass(frozen=True)
class Config:
    secret: bytes
    separator: str
    hash_length: int

    def engine(self, *, now: float = NOW, secrets: Sequence[bytes] | None = None) -> Engine:
        return Engine(
            list(secrets or [self.secret]),
            DOMAIN,
            separator=self.separator.encode(),
            hash_length=self.hash_length,
            hash_min=4,
            clock=lambda: now,
            **CLASSIC,
        )

    def postsrsd(self, **kwargs: object) -> PostsrsdInstance:
        options: dict[str, object] = {
            "separator": self.separator,
            "hash_length": self.hash_length,
            "hash_min": 4,
        }
        return PostsrsdInstance([self.secret], **{**options, **kwargs})  # type: ignore[arg-type]


CONFIGS = [
    pytest.param(Config(secret, sep, length), id=f"secret{i}-sep{sep}-hash{length}")
    for i, secret in enumerate(SECRETS)
    for sep in "=+-"
    for length in (4, 8)
]
DEFAULT = Config(SECRETS[0], "=", 4)


def ours(method: Callable[[bytes], Rewritten | Unchanged], addrs: Sequence[bytes]) -> Results:
    return [r.address if isinstance(r, Rewritten) else None for r in map(method, addrs)]


def assert_agree(inputs: Sequence[bytes], **columns: Column) -> None:
    """Every column gives the same result for every input; otherwise show the first few."""
    names = list(columns)
    rows = list(zip(inputs, *columns.values(), strict=True))
    bad = [row for row in rows if len(set(row[1:])) != 1]
    detail = "\n".join(
        f"  {row[0]!r}: " + ", ".join(f"{n}={v!r}" for n, v in zip(names, row[1:], strict=True))
        for row in bad[:10]
    )
    assert not bad, f"{len(bad)} of {len(rows)} disagree:\n{detail}"


@dataclass(frozen=True)
class Run:
    """Everything one configuration gives, computed once (one postsrsd, two perl runs)."""

    mail_forward: Results
    postsrsd_forward: Results
    minted: list[bytes]
    mail_reverse: Results
    postsrsd_reverse: Results
    smashed: list[bytes]  # minted, lower-cased then upper-cased
    mail_smashed: Results
    postsrsd_smashed: Results


@functools.cache
def run(config: Config) -> Run:
    mail_forward = mail_srs_forward(
        config.secret,
        DOMAIN,
        CORPUS,
        separator=config.separator,
        hashlength=config.hash_length,
        now=NOW,
    )
    with config.postsrsd() as postsrsd:
        postsrsd_forward = found(postsrsd.forward(CORPUS))
        minted = [m for m in postsrsd_forward if m is not None]
        smashed = [m.lower() for m in minted] + [m.upper() for m in minted]
        postsrsd_reverse = found(postsrsd.reverse(minted))
        postsrsd_smashed = found(postsrsd.reverse(smashed))
    mail_reverse, mail_smashed = (
        mail_srs_reverse(
            config.secret,
            addrs,
            separator=config.separator,
            hashlength=config.hash_length,
            hashmin=4,
            now=NOW,
        )
        for addrs in (minted, smashed)
    )
    return Run(
        mail_forward,
        postsrsd_forward,
        minted,
        mail_reverse,
        postsrsd_reverse,
        smashed,
        mail_smashed,
        postsrsd_smashed,
    )


# -- the corpus itself ----------------------------------------------------------------------
def test_corpus_is_large_deterministic_and_varied() -> None:
    assert len(CORPUS) >= 1000
    assert corpus() == CORPUS
    shapes = corpus_by_shape()
    assert all(shapes.values()), [name for name, addrs in shapes.items() if not addrs]
    locals_, domains = zip(*(a.rsplit(b"@", 1) for a in CORPUS), strict=True)
    assert max(len(local) for local in locals_ if not is_srs(local)) == 64  # RFC 5321 limit
    assert 240 <= max(map(len, domains)) <= 255
    assert any(not d.isascii() for d in domains)
    assert any(not local.isascii() for local in locals_)
    assert any(b"." not in d for d in domains)
    assert any(d.startswith(b"xn--") for d in domains)
    for tag in (b"SRS0", b"SRS1", b"srs0", b"srs1"):
        for sep in b"=+-":
            prefix = tag + bytes([sep])
            assert any(a.startswith(prefix) for a in CORPUS), prefix
    assert all(not a.lower().endswith(b"@" + DOMAIN) for a in CORPUS)


# -- forward ---------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS)
def test_forward_matches_mail_srs_and_postsrsd(config: Config) -> None:
    result = run(config)
    mine = ours(config.engine().forward, CORPUS)
    assert_agree(CORPUS, ours=mine, mail_srs=result.mail_forward, postsrsd=result.postsrsd_forward)
    assert None not in mine
    # SRS0/SRS1 minted elsewhere become SRS1 (Guarded); everything else SRS0.
    for address, out in zip(CORPUS, mine, strict=True):
        assert out is not None
        tag = b"SRS1" if is_srs(address) else b"SRS0"
        assert out.startswith(tag + config.separator.encode())
        assert out.endswith(b"@" + DOMAIN)


@pytest.mark.parametrize("days", [-1, 1, 31, 32, 1023, 1024, 5000])
def test_forward_on_other_days(days: int) -> None:
    now = NOW + days * DAY
    addrs = CORPUS[::5]
    with DEFAULT.postsrsd(now=now) as postsrsd:
        postsrsd_forward = found(postsrsd.forward(addrs))
    mail = mail_srs_forward(DEFAULT.secret, DOMAIN, addrs, now=now)
    mine = ours(DEFAULT.engine(now=now).forward, addrs)
    assert_agree(addrs, ours=mine, mail_srs=mail, postsrsd=postsrsd_forward)
    day = int(now // DAY)
    stamp = bytes([B32[(day >> 5) & 31], B32[day & 31]])
    assert any(m is not None and m[9:13] == b"=" + stamp + b"=" for m in mine)


# -- reverse ---------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS)
def test_reverse_of_oracle_minted_addresses(config: Config) -> None:
    result = run(config)
    assert len(result.minted) == len(CORPUS)
    mine = ours(config.engine().reverse, result.minted)
    assert_agree(
        result.minted, ours=mine, mail_srs=result.mail_reverse, postsrsd=result.postsrsd_reverse
    )
    for original, back in zip(CORPUS, mine, strict=True):
        if not is_srs(original):  # SRS0 <- original; SRS1 <- SRS0 at the first hop
            assert back == original


@pytest.mark.parametrize("config", CONFIGS)
def test_case_smashed_reverse(config: Config) -> None:
    """Lower-cased and upper-cased SRS addresses verify (libsrs2: case-insensitive hash)."""
    result = run(config)
    mine = ours(config.engine().reverse, result.smashed)
    assert_agree(
        result.smashed, ours=mine, postsrsd=result.postsrsd_smashed, mail_srs=result.mail_smashed
    )
    assert None not in mine


def test_reverse_through_two_and_three_forwarders() -> None:
    """alice@ → A (Mail::SRS) → B (postsrsd, SRS1) → C (ours, SRS1 re-signed): every hop's
    bounce path leads back, whoever minted the previous hop."""
    a = Config(SECRETS[1], "+", 4)
    b, c = Config(SECRETS[2], "=", 8), Config(SECRETS[0], "-", 4)
    plain = [x for x in CORPUS if not is_srs(x)][::3]
    hop_a = mail_srs_forward(a.secret, b"a.example", plain, separator="+", now=NOW)
    assert None not in hop_a
    at_a = [x for x in hop_a if x is not None]
    with b.postsrsd(domain=b"b.example") as postsrsd_b:
        at_b = found(postsrsd_b.forward(at_a))
        assert None not in at_b
        at_b_ = [x for x in at_b if x is not None]
        back_b = found(postsrsd_b.reverse(at_b_))
    engine_b = Engine([b.secret], b"b.example", hash_length=8, clock=lambda: NOW, **CLASSIC)
    assert_agree(at_a, ours=ours(engine_b.forward, at_a), postsrsd=at_b)
    assert_agree(at_b_, ours=ours(engine_b.reverse, at_b_), postsrsd=back_b, expected=at_a)
    engine_c = Engine([c.secret], b"c.example", separator=b"-", clock=lambda: NOW, **CLASSIC)
    at_c = ours(engine_c.forward, at_b_)
    mail_c = mail_srs_forward(c.secret, b"c.example", at_b_, separator="-", now=NOW)
    assert_agree(at_b_, ours=at_c, mail_srs=mail_c)
    at_c_ = [x for x in at_c if x is not None]
    back_c = mail_srs_reverse(c.secret, at_c_, separator="-", now=NOW)
    assert_agree(at_c_, ours=ours(engine_c.reverse, at_c_), mail_srs=back_c, expected=at_a)
    engine_a = Engine([a.secret], b"a.example", separator=b"+", clock=lambda: NOW, **CLASSIC)
    assert ours(engine_a.reverse, at_a) == plain


def test_old_secret_still_verifies_new_one_signs() -> None:
    """postsrsd 1.10 reads one secret per line, first signs, all verify; so do we."""
    new, old = SECRETS[0], SECRETS[2]
    addrs = CORPUS[::4]
    minted_old = mail_srs_forward(old, DOMAIN, addrs, now=NOW)
    minted = [m for m in minted_old if m is not None]
    assert len(minted) == len(addrs)
    rotated = DEFAULT.engine(secrets=[new, old])
    with PostsrsdInstance([new, old]) as postsrsd:
        postsrsd_reverse = found(postsrsd.reverse(minted))
        postsrsd_forward = found(postsrsd.forward(addrs))
    mail = mail_srs_reverse([new, old], minted, now=NOW)
    assert_agree(
        minted, ours=ours(rotated.reverse, minted), mail_srs=mail, postsrsd=postsrsd_reverse
    )
    assert None not in postsrsd_reverse
    signed_by_new = mail_srs_forward(new, DOMAIN, addrs, now=NOW)
    assert_agree(
        addrs, ours=ours(rotated.forward, addrs), postsrsd=postsrsd_forward, new=signed_by_new
    )
    # Without the old secret, nobody reverses them.
    with PostsrsdInstance([new]) as postsrsd:
        assert set(found(postsrsd.reverse(minted))) == {None}
    assert set(mail_srs_reverse(new, minted, now=NOW)) == {None}
    assert set(ours(DEFAULT.engine().reverse, minted)) == {None}


@pytest.mark.parametrize(
    ("days", "srs0_valid"),
    [
        pytest.param(-1, False, id="tomorrow"),
        pytest.param(0, True, id="today"),
        pytest.param(1, True, id="yesterday"),
        pytest.param(21, True, id="max-age"),
        pytest.param(22, False, id="max-age+1"),
        pytest.param(100, False, id="100-days"),
        pytest.param(1023, False, id="1023-days-looks-future"),
        pytest.param(1024, True, id="stamp-cycle-wraps"),
        pytest.param(1045, True, id="wrapped-max-age"),
        pytest.param(1046, False, id="wrapped-max-age+1"),
    ],
)
def test_day_stamps_checked_on_later_days(days: int, srs0_valid: bool) -> None:
    """Minted today by Mail::SRS, reversed ``days`` later by all three (postsrsd under
    faketime). SRS1 carries no stamp and stays valid."""
    addrs = CORPUS[::6]
    minted = [m for m in mail_srs_forward(DEFAULT.secret, DOMAIN, addrs, now=NOW) if m]
    later = NOW + days * DAY
    with DEFAULT.postsrsd(now=later) as postsrsd:
        postsrsd_reverse = found(postsrsd.reverse(minted))
    mail = mail_srs_reverse(DEFAULT.secret, minted, now=later)
    mine = ours(DEFAULT.engine(now=later).reverse, minted)
    assert_agree(minted, ours=mine, mail_srs=mail, postsrsd=postsrsd_reverse)
    for address, back in zip(minted, mine, strict=True):
        valid = srs0_valid or address.startswith(b"SRS1")
        assert (back is not None) == valid, address


def _mutate_char(field: bytes, index: int) -> bytes:
    """Change one character to one that differs even case-insensitively."""
    old = field[index : index + 1].lower()
    new = next(c for c in (b"7", b"3", b"q") if c != old)
    return field[:index] + new + field[index + 1 :]


def _tamper(address: bytes, how: str) -> bytes:
    local, _, domain = address.rpartition(b"@")
    head, body = local[:5], local[5:]
    srs1 = head[:4].upper() == b"SRS1"
    fields = body.split(b"=", 2 if srs1 else 3)
    if how == "hash":
        fields[0] = _mutate_char(fields[0], len(address) % len(fields[0]))
    elif how == "host":
        fields[-2] = _mutate_char(fields[-2], 0)
    elif how == "user":
        fields[-1] += b"x"
    elif how == "stamp" and not srs1:
        day = int(NOW // DAY) - 3
        fields[1] = bytes([B32[(day >> 5) & 31], B32[day & 31]])
    elif how == "drop-hash-char":
        fields[0] = fields[0][1:]
    return head + b"=".join(fields) + b"@" + domain


@pytest.mark.parametrize("how", ["hash", "host", "user", "stamp", "drop-hash-char", "secret"])
def test_tampered_addresses_are_refused(how: str) -> None:
    addrs = CORPUS[::3]
    if how == "secret":
        forged = mail_srs_forward(b"someone else's secret", DOMAIN, addrs, now=NOW)
        tampered = [m for m in forged if m is not None]
    else:
        minted = [m for m in run(DEFAULT).minted[::3] if how != "stamp" or m[:4] == b"SRS0"]
        tampered = [_tamper(m, how) for m in minted]
        assert all(t != m for t, m in zip(tampered, minted, strict=True))
    with DEFAULT.postsrsd() as postsrsd:
        replies = postsrsd.reverse(tampered)
    assert {status for status, _ in replies} == {500}
    mine = DEFAULT.engine().reverse
    assert all(isinstance(mine(t), Unchanged) for t in tampered)
    assert set(mail_srs_reverse(DEFAULT.secret, tampered, now=NOW)) == {None}


def _srs0(secret: bytes, stamp: bytes, host: bytes, user: bytes, length: int) -> bytes:
    mac = hmac.new(secret, stamp.lower() + host.lower() + user.lower(), hashlib.sha1)
    hash_ = b64encode(mac.digest())[:length]
    return b"SRS0=" + hash_ + b"=" + stamp + b"=" + host + b"=" + user + b"@" + DOMAIN


TODAY = bytes([B32[(int(NOW // DAY) >> 5) & 31], B32[int(NOW // DAY) & 31]])


def test_truncated_hash_within_hash_min_and_hash_length() -> None:
    """hash_length 8, hash_min 5: a hash cut to 5..8 characters verifies, 4 does not."""
    secret = SECRETS[1]
    addrs = [_srs0(secret, TODAY, b"ex.com", b"u", n) for n in range(1, 9)]
    with PostsrsdInstance([secret], hash_length=8, hash_min=5) as postsrsd:
        postsrsd_reverse = found(postsrsd.reverse(addrs))
    mail = mail_srs_reverse(secret, addrs, hashlength=8, hashmin=5, now=NOW)
    engine = Engine([secret], DOMAIN, hash_length=8, hash_min=5, clock=lambda: NOW, **CLASSIC)
    expected = [None] * 4 + [b"u@ex.com"] * 4
    assert_agree(
        addrs,
        ours=ours(engine.reverse, addrs),
        mail_srs=mail,
        postsrsd=postsrsd_reverse,
        expected=expected,
    )


# -- where the oracles (or our stated decisions) differ: pinned one by one ---------------------
PINNED = Config(b"k1", "=", 4)  # the literal outputs below are for this secret, on day ND


def _three(addrs: list[bytes], *, forward: bool) -> tuple[Results, Results, Results]:
    secret = PINNED.secret
    with PINNED.postsrsd() as postsrsd:
        postsrsd_out = found(postsrsd.forward(addrs) if forward else postsrsd.reverse(addrs))
    if forward:
        mail = mail_srs_forward(secret, DOMAIN, addrs, now=NOW)
        mine = ours(PINNED.engine().forward, addrs)
    else:
        mail = mail_srs_reverse(secret, addrs, now=NOW)
        mine = ours(PINNED.engine().reverse, addrs)
    return mine, mail, postsrsd_out


def test_hash_longer_than_hash_length_is_accepted_by_both_oracles() -> None:
    secret = PINNED.secret
    addrs = [_srs0(secret, TODAY, b"ex.com", b"u", n) for n in (5, 8, 27)]
    mine, mail, postsrsd = _three(addrs, forward=False)
    assert mail == postsrsd == [b"u@ex.com"] * 3  # the oracles agree ...
    assert mine == postsrsd  # ... and we do not


def test_quoted_local_part_follows_engine_decision() -> None:
    """Both oracles sign ``"john doe"`` with its quotes and leave them inside the SRS local
    part (``SRS0=…=example.com="john doe"@…``: not a valid address). The engine signs the
    unquoted text and quotes the whole SRS local part, which round-trips."""
    address = b'"john doe"@example.com'
    mine, mail, postsrsd = _three([address], forward=True)
    assert mail == postsrsd == [b'SRS0=JBOT=ND=example.com="john doe"@fwd.example']
    # Ours: Mail::SRS's signature of the unquoted local part, with the quotes moved outside.
    (unquoted,) = mail_srs_forward(PINNED.secret, DOMAIN, [b"john doe@example.com"], now=NOW)
    assert unquoted is not None
    local, _, domain = unquoted.rpartition(b"@")
    assert mine == [b'"' + local + b'"@' + domain]
    assert PINNED.engine().reverse(mine[0] or b"") == Rewritten(address)
    # The oracles' form still reverses in ours, as in theirs.
    back, mail_back, postsrsd_back = _three([mail[0] or b""], forward=False)
    assert back == mail_back == postsrsd_back == [address]
    # The oracles do not reverse our form (postsrsd: "Not an SRS address").
    _, mail_back, postsrsd_back = _three([mine[0] or b""], forward=False)
    assert mail_back == postsrsd_back == [None]


def test_two_at_signs() -> None:
    """Mail::SRS refuses a local part with ``@``; libsrs2 splits at the first ``@`` and signs
    garbage (host ``b@c.example``); the engine refuses, as Mail::SRS."""
    mine, mail, postsrsd = _three([b"a@b@c.example"], forward=True)
    assert postsrsd == [b"SRS0=QN2r=ND=b@c.example=a@fwd.example"]
    assert mine == mail == [None]
    # Reverse: Mail::SRS gives "u@v@ex.com", postsrsd checks the hash of the wrong split.
    addrs = [_srs0(PINNED.secret, TODAY, b"ex.com", b"u@v", 4)]
    mine, mail, postsrsd = _three(addrs, forward=False)
    assert mail == [b"u@v@ex.com"]
    assert mine == postsrsd == [None]


def test_empty_local_part_or_domain() -> None:
    """docs/settings.md: no ``@``, an empty local part or domain is ``500``. Both oracles rewrite
    ``@b`` (SRS0=…=b=@…), postsrsd even ``a@`` (SRS0=…==a@…)."""
    mine, mail, postsrsd = _three([b"@b", b"a@", b"noat"], forward=True)
    assert mail == [b"SRS0=0whX=ND=b=@fwd.example", None, None]
    assert postsrsd == [b"SRS0=0whX=ND=b=@fwd.example", b"SRS0=Z3P0=ND==a@fwd.example", None]
    assert mine == [None, None, None]


def test_reverse_with_empty_fields() -> None:
    """Both oracles reverse an SRS0 with an empty user or host to ``@host`` / ``user@`` and an
    SRS1 with an empty rest to ``SRS0@host``; the engine refuses them (docs/settings.md: missing
    fields are ``500``), consistently with refusing ``@b`` on the way forward."""
    secret = PINNED.secret
    mac = hmac.new(secret, b"h.org", hashlib.sha1)
    srs1 = b"SRS1=" + b64encode(mac.digest())[:4] + b"=h.org=@" + DOMAIN
    addrs = [
        _srs0(secret, TODAY, b"ex.com", b"", 4),
        _srs0(secret, TODAY, b"", b"u", 4),
        srs1,
    ]
    mine, mail, postsrsd = _three(addrs, forward=False)
    assert mail == postsrsd == [b"@ex.com", b"u@", b"SRS0@h.org"]
    assert mine == [None, None, None]


def test_bare_srs_tag_is_not_an_srs_address() -> None:
    """``SRS0@x.org`` (tag, no separator): libsrs2's ``strchr(SEPARATORS, user[4])`` matches
    the terminating NUL, so postsrsd treats it as SRS0 (mints ``SRS1=…=x.org=@…``) and fails
    ``SRS1@x.org`` ("No host in SRS1 address"). Mail::SRS and the engine see plain senders."""
    addrs = [b"SRS0@x.org", b"srs0@x.org", b"SRS1@x.org"]
    mine, mail, postsrsd = _three(addrs, forward=True)
    assert mine == mail
    assert mine == [
        b"SRS0=hREm=ND=x.org=SRS0@fwd.example",
        b"SRS0=hREm=ND=x.org=srs0@fwd.example",
        b"SRS0=zYUE=ND=x.org=SRS1@fwd.example",
    ]
    assert postsrsd == [b"SRS1=m+vw=x.org=@fwd.example"] * 2 + [None]


def test_malformed_srs1_minted_elsewhere() -> None:
    """An SRS1 sender without host or user: postsrsd refuses ("No host/user/hash in SRS1
    address"), Mail::SRS mints an SRS1 with empty fields; the engine refuses, as postsrsd."""
    addrs = [b"SRS1=abc@x.example", b"SRS1=h=host@o.example", b"SRS1=@x.org"]
    mine, mail, postsrsd = _three(addrs, forward=True)
    assert mail == [
        b"SRS1=QYSF==@fwd.example",
        b"SRS1=o479=host=@fwd.example",
        b"SRS1=QYSF==@fwd.example",
    ]
    assert mine == postsrsd == [None, None, None]


def test_stamp_of_other_than_two_characters() -> None:
    """Mail::SRS decodes a stamp of any length (``AND`` == ``ND``); postsrsd 1.10 and the
    engine (docstring: two base32 characters) refuse it."""
    secret = PINNED.secret
    addrs = [
        _srs0(secret, b"A" + TODAY, b"ex.com", b"u", 4),
        _srs0(secret, b"", b"ex.com", b"u", 4),
    ]
    mine, mail, postsrsd = _three(addrs, forward=False)
    assert mail == [b"u@ex.com", None]
    assert mine == postsrsd == [None, None]


def test_reverse_without_domain() -> None:
    """postsrsd reverses an SRS local part with no ``@`` or an empty domain; Mail::SRS and the
    engine need an address (Postfix always passes ``user@domain`` to the reverse table)."""
    base = _srs0(PINNED.secret, TODAY, b"ex.com", b"u", 4)
    addrs = [base.rpartition(b"@")[0], base.rpartition(b"@")[0] + b"@"]
    mine, mail, postsrsd = _three(addrs, forward=False)
    assert postsrsd == [b"u@ex.com", b"u@ex.com"]
    assert mine == mail == [None, None]


def test_lone_quote_local_part_matches_oracles() -> None:
    mine, mail, postsrsd = _three([b'"@example.com'], forward=True)
    assert mail == postsrsd == [b'SRS0=x5IT=ND=example.com="@fwd.example']
    assert mine == postsrsd
