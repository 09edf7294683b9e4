"""The SRS algorithm (Guarded scheme), built on pysrs, with no I/O and an injected clock.

Contract:
- ``Engine.forward(address)`` always rewrites (own-domain and exclusion policy live in
  ``tables``): a plain address becomes ``SRS0=HHHH=TT=host=user@DOMAIN``, an SRS0 or SRS1
  address minted elsewhere becomes ``SRS1=HHHH=host==...@DOMAIN`` (SRS paper, "Guarded").
- ``Engine.reverse(address)`` returns the address an SRS0/SRS1 address stands for only if its
  day stamp is within ``max_age`` days and its hash verifies under one of the secrets.
- Results are values: ``Rewritten(address)`` or ``Unchanged(reason)``; nothing raises for bad
  input.

Hashes and day stamps are ``hashing``'s: ``separated`` input by default (the field
boundaries are signed), ``concatenated`` (classic) on request; with ``hash_input="concatenated",
hash_alphabet="base64"`` the addresses are byte-identical with libsrs2, postsrsd 1.x and
Mail::SRS for the same secret, settings and day.
Deliberate differences: a local part with an unquoted ``@`` is refused (Mail::SRS refuses it,
libsrs2 garbles it); a quoted local part is signed without its quotes and the quotes are put
around the whole SRS local part, so that ``"john doe"@example.com`` survives the round trip;
an empty local part or domain, a domain holding ``=``, and an SRS address with an empty host
or user field, are refused (the oracles produce ``@host``, ``user@`` or ``=user@host`` from
them).

pysrs's part: plain senders (the common case) and every reverse run here, on bytes
(``_srs0``, ``_parse``: the same algorithm as pysrs's ``Shortcut.compile`` and
``Guarded.parse``, without a text round trip per field, and without ``assert``); pysrs's own
``Guarded.compile``, through the subclass in ``guarded``, turns SRS0/SRS1 senders minted
elsewhere into SRS1. Tests compare both paths. This module imports no pysrs class directly, so
it can be compiled with mypyc.

Any byte survives: addresses are bytes; pysrs works on ``str``, so bytes are mapped 1:1 to
code points (latin-1) on the way in and back on the way out.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pysrsd.srs.guarded import GuardedSRS, text
from pysrsd.srs.hashing import (
    DAY,
    FULL_HASH,
    Alphabet,
    HashInput,
    Signer,
    stamp_age,
    stamp_for,
    today,
)
from pysrsd.srs.shortcut import Shortcut

SEPARATORS = b"=+-"
_SEP = b"="  # every separator after the first (SRS paper: SRSSEP)
MAX_ADDRESS = 1023  # longest address taken or produced (postsrsd 1.x: 1024-byte buffers)


@dataclass(frozen=True, slots=True)
class Rewritten:
    address: bytes


@dataclass(frozen=True, slots=True)
class Unchanged:
    reason: str


Outcome = Rewritten | Unchanged


def is_srs(address: bytes) -> bool:
    """``SRS0`` or ``SRS1`` followed by a separator, any case (libsrs2 SRS_IS_SRS_ADDRESS)."""
    return (
        len(address) > 4
        and address[:3].upper() == b"SRS"
        and address[3] in b"01"
        and address[4] in SEPARATORS
    )


def _split(address: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(local part without quotes, domain, the quote removed: ``"`` or empty), or None if it
    is not a usable address. Only a local part that starts and ends with ``"`` is quoted."""
    local, at, domain = address.rpartition(b"@")
    if not at or not domain:
        return None
    quote = b""
    if len(local) >= 2 and local[:1] == b'"' and local[-1:] == b'"':
        local, quote = local[1:-1], b'"'
    elif b"@" in local:
        return None
    return (local, domain, quote) if local else None


class Engine:
    """Forward and reverse SRS rewriting for one domain and one set of secrets."""

    def __init__(
        self,
        secrets: Sequence[bytes],
        domain: bytes,
        *,
        separator: bytes = b"=",
        hash_length: int = 4,
        hash_min: int = 4,
        max_age: int = 21,
        hash_input: HashInput = "separated",
        hash_alphabet: Alphabet = "base64url",
        accept_concatenated_before: datetime.date | None = None,
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty secret is required")
        if len(separator) != 1 or separator not in SEPARATORS:
            raise ValueError("separator must be one of = + -")
        if not 1 <= hash_min <= hash_length <= FULL_HASH:
            raise ValueError("need 1 <= hash_min <= hash_length <= 27")
        signer = Signer(
            secrets,
            mode=hash_input,
            alphabet=hash_alphabet,
            hash_length=hash_length,
            hash_min=hash_min,
            max_age=max_age,
            window=accept_concatenated_before,
            clock=clock,
            on_warning=on_warning,
        )
        self.domain = domain
        self._domain_text = text(domain)
        self._alias = domain.split(b"@")[-1]  # pysrs: "just a domain will do"
        self._signer = signer
        self._separator = separator
        self._max_age = max_age
        self._clock = clock
        self._guarded = GuardedSRS(
            signer, separator=separator.decode(), clock=clock, parse=self._parse_for_pysrs
        )
        # The common cases, precomputed: what the fast path asks before the engine.
        self.shortcut = Shortcut(
            secrets,
            domain,
            separator=separator,
            hash_length=hash_length,
            hash_min=hash_min,
            max_age=max_age,
            hash_input=hash_input,
            url_alphabet=hash_alphabet == "base64url",
            clock=clock,
        )

    def forward(self, address: bytes) -> Outcome:
        if len(address) > MAX_ADDRESS:
            return Unchanged("address too long")
        parts = _split(address)
        if parts is None:
            return Unchanged("not a valid address")
        local, host, quote = parts
        if b"=" in host:
            # Not a domain name, and unsafe to sign: the reverse cuts the fields at "=", and
            # the HMAC has no field delimiter, so "u@h=" would come back as "=u@h".
            return Unchanged("not a valid address")
        if not is_srs(local):  # plain: no pysrs, no text round trip
            return _done_bytes(b"%s%s%s@%s" % (quote, self._srs0(host, local), quote, self._alias))
        if local[3:4] == b"1":
            fields = local[5:].split(_SEP, 2)
            if len(fields) != 3 or not fields[1] or not fields[2]:
                # libsrs2 and Mail::SRS mint SRS1=HHHH=host=@... from "SRS1=x=host=@...",
                # which no reverse accepts (empty field): refuse it here instead.
                return Unchanged("malformed SRS1 address")
        return _done(self._guarded.forward(text(address), self._domain_text))

    def reverse(self, address: bytes) -> Outcome:
        if not (is_srs(address) or address[:1] == b'"'):  # the path every delivery takes
            return Unchanged("not an SRS address")
        parts = _split(address)
        if parts is None or not is_srs(parts[0]):
            return Unchanged("not an SRS address")
        if len(address) > MAX_ADDRESS:
            return Unchanged("address too long")
        local = address.rpartition(b"@")[0]  # pysrs parse_addr, on bytes
        quotes = b""
        if local[:1] == b'"' and local[-1:] == b'"':
            local, quotes = local[1:-1], b'"'
        parsed = self._parse(local)
        if isinstance(parsed, Unchanged):
            return parsed
        return _done_bytes(b"%s%s%s@%s" % (quotes, parsed[1], quotes, parsed[0]))

    def valid_until(self) -> int:
        """The Unix time at which an SRS0 address minted now stops verifying: its day stamp
        is accepted through the end of day today + max-age (UTC), whatever the hour it was
        minted at."""
        return (today(self._clock) + self._max_age + 1) * DAY

    def _srs0(self, host: bytes, user: bytes) -> bytes:
        """The local part ``SRS0=HHHH=TT=host=user`` that pysrs's ``Shortcut.compile`` builds
        for a user that is not SRS0/SRS1, on bytes (tests compare the two)."""
        stamp = stamp_for(today(self._clock))
        hash_ = self._signer.sign_srs0(stamp, host, user)
        return b"SRS0%s%s=%s=%s=%s" % (self._separator, hash_, stamp, host, user)

    def _parse(self, user: bytes) -> tuple[bytes, bytes] | Unchanged:
        """(host, user) an SRS local part stands for, or why not. The fields are hashed as
        they arrive, with no text round trip."""
        tag, body = user[:4].upper(), user[5:]
        if tag == b"SRS1":
            fields = body.split(_SEP, 2)
            if len(fields) != 3 or not fields[1] or not fields[2]:
                return Unchanged("malformed SRS1 address")
            hash_, host, rest = fields
            if not self._signer.verify_srs1(hash_, host, rest):
                return Unchanged("bad hash")
            return host, b"SRS0" + rest
        fields = body.split(_SEP, 3)
        if len(fields) != 4 or not fields[2] or not fields[3]:
            return Unchanged("malformed SRS0 address")
        hash_, stamp, host, sender = fields
        age = stamp_age(stamp, today(self._clock))  # libsrs2 checks the stamp first
        if age is None or age > self._max_age:  # a stamp "from the future": last cycle
            return Unchanged("expired or invalid day stamp")
        if not self._signer.verify_srs0(hash_, stamp, host, sender):
            return Unchanged("bad hash")
        return host, sender

    def _parse_for_pysrs(self, user: bytes) -> tuple[bytes, bytes] | str:
        parsed = self._parse(user)
        return parsed.reason if isinstance(parsed, Unchanged) else parsed


def _done(result: str) -> Outcome:
    return _done_bytes(result.encode("latin-1"))


def _done_bytes(raw: bytes) -> Outcome:
    if len(raw) > MAX_ADDRESS:
        return Unchanged("address too long")
    return Rewritten(raw)
