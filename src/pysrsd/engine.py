"""The SRS algorithm (Guarded scheme), built on pysrs, with no I/O and an injected clock.

Contract:
- ``Engine.forward(address)`` always rewrites (own-domain and exclusion policy live in
  ``tables``): a plain address becomes ``SRS0=HHHH=TT=host=user@DOMAIN``, an SRS0 or SRS1
  address minted elsewhere becomes ``SRS1=HHHH=host==...@DOMAIN`` (SRS paper, "Guarded").
- ``Engine.reverse(address)`` returns the address an SRS0/SRS1 address stands for only if its
  day stamp is within ``max_age`` days and its hash verifies under one of the secrets.
- Results are values: ``Rewritten(address)`` or ``Unchanged(reason)``; nothing raises for bad
  input.

Compatibility (libsrs2, postsrsd 1.x and Mail::SRS agree on these; so do we):
- hash = base64(HMAC-SHA1(secret, lower(field) for each field))[:hash_length], where lower()
  folds ASCII only; fields are (stamp, host, user) for SRS0 and (host, user) for SRS1.
- a hash is accepted with any case (case-smashing MTAs) and as any prefix of at least hash_min
  characters (postsrsd 1.10, Mail::SRS); the day stamp is two base32 characters, any case.
Deliberate differences: a local part with an unquoted ``@`` is refused (Mail::SRS refuses it,
libsrs2 garbles it); a quoted local part is signed without its quotes and the quotes are put
around the whole SRS local part, so that ``"john doe"@example.com`` survives the round trip;
an empty local part or domain, a domain holding ``=``, and an SRS address with an empty host
or user field, are refused (the oracles produce ``@host``, ``user@`` or ``=user@host`` from
them).

Why a subclass: pysrs 1.0.3 calls ``base64.encodestring`` (removed in Python 3.9) and checks
hashes and stamps with ``assert``, which ``python -O`` strips (a forged address would reverse:
an open relay). ``_GuardedSRS`` replaces hash creation/verification, the day stamp and the
whole reverse parse with Python 3 code that never relies on ``assert``. Plain senders (the
common case) and every reverse run on bytes in the subclass (``srs0``, ``parse_bytes``: the
same algorithm as pysrs's ``Shortcut.compile`` and ``Guarded.parse``, without a text round
trip per field); pysrs's own ``Guarded.compile`` turns SRS0/SRS1 senders minted elsewhere
into SRS1, and tests compare both paths.

Any byte survives: addresses are bytes; pysrs works on ``str``, so bytes are mapped 1:1 to
code points (latin-1) on the way in and back on the way out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from SRS.Guarded import Guarded

SEPARATORS = b"=+-"
_SEP = b"="  # every separator after the first (SRS paper: SRSSEP)
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_DAY = 24 * 60 * 60
_SLOTS = len(_BASE32) ** 2  # a two-character stamp cycles every 1024 days
_STAMPS = {a + b: i * 32 + j for i, a in enumerate(_BASE32) for j, b in enumerate(_BASE32)}
_FULL_HASH = 27  # base64 characters of a 20-byte HMAC-SHA1 before the padding
MAX_ADDRESS = 1023  # longest address taken or produced (postsrsd 1.x: 1024-byte buffers)


@dataclass(frozen=True, slots=True)
class Rewritten:
    address: bytes


@dataclass(frozen=True, slots=True)
class Unchanged:
    reason: str


Outcome = Rewritten | Unchanged


class _Reject(Exception):
    """Raised inside the pysrs call stack; ``Engine`` turns it into ``Unchanged``."""


def _raw(data: bytes) -> bytes:
    """Undo pysrs's ``str.encode()`` (UTF-8) of our latin-1 strings: the original bytes."""
    return data.decode("utf-8").encode("latin-1")


def _text(data: bytes) -> str:
    return data.decode("latin-1")


class _GuardedSRS(Guarded):  # type: ignore[misc]
    """pysrs's Guarded scheme with Python 3 hashing, an injected clock and no ``assert``."""

    def __init__(
        self,
        keys: Sequence[hmac.HMAC],
        *,
        separator: str,
        hash_length: int,
        hash_min: int,
        max_age: int,
        clock: Callable[[], float],
        on_warning: Callable[[str], None],
    ) -> None:
        super().__init__(
            secret=("unused",),  # pysrs wants one; our hash functions use ``keys``
            maxage=max_age,
            hashlength=hash_length,
            hashmin=hash_min,
            separator=separator,
            alwaysrewrite=True,  # the own-domain rule is policy (tables), on bytes
        )
        self._keys = keys
        self._separator = separator.encode()
        self._clock = clock
        self._on_warning = on_warning

    # -- hashing -------------------------------------------------------------------------
    def _digest(self, key: hmac.HMAC, fields: Sequence[bytes], length: int = 0) -> bytes:
        mac = key.copy()  # the keyed inner/outer pads are computed once per secret
        for field in fields:
            mac.update(field.lower())  # bytes.lower() folds ASCII only, as libsrs2's tolower
        return base64.b64encode(mac.digest())[: length or self.hashlength]

    def hash_create(self, *data: bytes) -> bytes:
        return self._digest(self._keys[0], [_raw(d) for d in data])

    def hash_verify(self, given: bytes, *data: bytes) -> bool:
        return self._verify(_raw(given), *[_raw(d) for d in data])

    def _verify(self, given: bytes, *fields: bytes) -> bool:
        """postsrsd 1.10 and Mail::SRS: any case, any prefix of at least hash_min characters
        of the 27-character base64 HMAC (the 28th would be base64 padding)."""
        if not self.hashmin <= len(given) <= _FULL_HASH:
            return False
        folded = given.lower()
        matched = False
        for key in self._keys:  # try every secret: constant work whichever one matches
            expected = self._digest(key, fields, _FULL_HASH)[: len(given)]
            if hmac.compare_digest(expected.lower(), folded):
                if not hmac.compare_digest(expected, given):
                    self.warn("SRS hash matched only case-insensitively (case smashed)")
                matched = True
        return matched

    def warn(self, *msg: str) -> None:
        self._on_warning(" ".join(msg))

    # -- day stamp -----------------------------------------------------------------------
    def timestamp_create(self, ts: float | None = None) -> str:
        day = int((self._clock() if ts is None else ts) // _DAY)
        return _BASE32[(day >> 5) & 31] + _BASE32[day & 31]

    def timestamp_check(self, timestamp: str) -> bool:
        then = _STAMPS.get(timestamp.upper())
        if then is None:
            return False
        now = int(self._clock() // _DAY) % _SLOTS
        while now < then:  # a stamp "from the future" is one from the previous cycle
            now += _SLOTS
        return bool(now <= then + self.maxage)

    # -- reverse (replaces Guarded.parse and Shortcut.parse, which use assert) ----------
    def parse(self, user: str, srshost: str | None = None) -> tuple[str, str]:
        host, sender = self.parse_bytes(user.encode("latin-1"))
        return _text(host), _text(sender)

    def parse_bytes(self, user: bytes) -> tuple[bytes, bytes]:
        """(host, user) an SRS local part stands for; raises ``_Reject``. Works on bytes:
        the fields are hashed as they arrive, with no text round trip."""
        tag, body = user[:4].upper(), user[5:]
        if tag == b"SRS1":
            fields = body.split(_SEP, 2)
            if len(fields) != 3 or not fields[1] or not fields[2]:
                raise _Reject("malformed SRS1 address")
            hash_, host, rest = fields
            if not self._verify(hash_, host, rest):
                raise _Reject("bad hash")
            return host, b"SRS0" + rest
        fields = body.split(_SEP, 3)
        if len(fields) != 4 or not fields[2] or not fields[3]:
            raise _Reject("malformed SRS0 address")
        hash_, stamp, host, sender = fields
        if not self.timestamp_check(_text(stamp)):  # libsrs2 checks the stamp first
            raise _Reject("expired or invalid day stamp")
        if not self._verify(hash_, stamp, host, sender):
            raise _Reject("bad hash")
        return host, sender

    # -- forward of a plain address (the common case), on bytes ----------------------
    def srs0(self, host: bytes, user: bytes) -> bytes:
        """The local part ``SRS0=HHHH=TT=host=user`` that ``Shortcut.compile`` builds for a
        user that is not SRS0/SRS1, without the text round trip (tests compare the two)."""
        stamp = self.timestamp_create().encode()
        hash_ = self._digest(self._keys[0], (stamp, host, user))
        return b"SRS0%s%s=%s=%s=%s" % (self._separator, hash_, stamp, host, user)


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
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty secret is required")
        if len(separator) != 1 or separator not in SEPARATORS:
            raise ValueError("separator must be one of = + -")
        if not 1 <= hash_min <= hash_length <= 27:
            raise ValueError("need 1 <= hash_min <= hash_length <= 27")
        keys = [hmac.new(s, digestmod=hashlib.sha1) for s in secrets]
        self.domain = domain
        self._domain_text = _text(domain)
        self._alias = domain.split(b"@")[-1]  # pysrs: "just a domain will do"
        self._srs = _GuardedSRS(
            keys,
            separator=separator.decode(),
            hash_length=hash_length,
            hash_min=hash_min,
            max_age=max_age,
            clock=clock,
            on_warning=on_warning,
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
            srs_local = self._srs.srs0(host, local)
            return _done_bytes(b"%s%s%s@%s" % (quote, srs_local, quote, self._alias))
        if local[3:4] == b"1":
            fields = local[5:].split(_SEP, 2)
            if len(fields) != 3 or not fields[1] or not fields[2]:
                # libsrs2 and Mail::SRS mint SRS1=HHHH=host=@... from "SRS1=x=host=@...",
                # which no reverse accepts (empty field): refuse it here instead.
                return Unchanged("malformed SRS1 address")
        return _done(self._srs.forward(_text(address), self._domain_text))

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
        try:
            sendhost, senduser = self._srs.parse_bytes(local)
        except _Reject as reject:
            return Unchanged(str(reject))
        return _done_bytes(b"%s%s%s@%s" % (quotes, senduser, quotes, sendhost))


def _done(result: str) -> Outcome:
    return _done_bytes(result.encode("latin-1"))


def _done_bytes(raw: bytes) -> Outcome:
    if len(raw) > MAX_ADDRESS:
        return Unchanged("address too long")
    return Rewritten(raw)
