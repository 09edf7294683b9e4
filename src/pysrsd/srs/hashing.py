"""SRS hashes and day stamps: what is signed, how it is written, how a given one is checked.

No I/O; the clock is injected. The spec another implementation can follow is docs/hash.md.

Contract:
- ``separated`` (the default): the HMAC-SHA1 input is the ASCII-lower-cased text
  ``SRS0=TT=host=user`` (SRS0) or ``SRS1=host=user`` (SRS1), always ``=`` whatever the
  address's separator. The stamp and the host never hold ``=`` (the callers cut the fields at
  ``=`` and refuse a host holding one), so the text parses one way only, and an SRS0 hash
  cannot stand in for an SRS1 one or the reverse.
- ``concatenated``: the classic input ``lower(TT) + lower(host) + lower(user)`` (SRS0),
  ``lower(host) + lower(user)`` (SRS1), byte-identical with libsrs2, postsrsd 1.x, Mail::SRS.
  Forgeable: a hash for ``mbob@gmail.co`` also holds for ``bob@gmail.com``.
- A hash is base64 of the 20-byte HMAC truncated to ``hash_length``; new hashes are written in
  ``base64url`` (``-``, ``_``) or ``base64`` (``+``, ``/``). A given hash verifies in either
  alphabet, in any case, as any prefix of at least ``hash_min`` characters of the 27-character
  encoding, under any secret; every secret is tried and compared in constant time.
- In separated mode with ``accept_concatenated_before`` set, a concatenated hash also verifies
  on an address whose day stamp's day (the latest day not after today with that stamp, as the
  age check counts it) is before that date and within ``max_age`` days; an SRS1 address is
  judged by the stamp of the SRS0 address it carries. No such address was minted after the
  switch, and the window closes by itself ``max_age`` days after the date.
- A day stamp is two base32 characters, any ASCII case (``ß`` is not ``SS``).
"""

from __future__ import annotations

import binascii
import datetime
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

HashInput = Literal["separated", "concatenated"]
Alphabet = Literal["base64url", "base64"]

FULL_HASH = 27  # base64 characters of a 20-byte HMAC-SHA1 before the padding
DAY = 24 * 60 * 60
BASE32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SLOTS = len(BASE32) ** 2  # a two-character stamp cycles every 1024 days
_STAMPS = {bytes((a, b)): i * 32 + j for i, a in enumerate(BASE32) for j, b in enumerate(BASE32)}
TO_URL = bytes.maketrans(b"+/", b"-_")
TO_STD = bytes.maketrans(b"-_", b"+/")
# One pass folds both alphabets and ASCII case: the form every comparison is made in.
FOLD = bytes.maketrans(b"-_ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"+/abcdefghijklmnopqrstuvwxyz")
_EPOCH = datetime.date(1970, 1, 1)
_BLOCK = 64  # SHA-1's block size in bytes
_INNER = bytes(b ^ 0x36 for b in range(256))  # RFC 2104's ipad and opad, as translate tables
_OUTER = bytes(b ^ 0x5C for b in range(256))
Keyed = tuple["hashlib._Hash", "hashlib._Hash"]  # HMAC-SHA1 with a key: (inner, outer)


def keyed(secret: bytes) -> Keyed:
    """HMAC-SHA1's two hashes primed with ``secret`` (RFC 2104: the key padded to a block and
    XORed with ipad, opad), computed once per secret: a MAC then costs two copies of them
    (``mac``), where ``hmac.HMAC.copy`` builds a Python object per hash."""
    sha1 = hashlib.sha1  # HMAC-SHA1 is what SRS signs with (libsrs2, Mail::SRS)
    if len(secret) > _BLOCK:
        secret = sha1(secret).digest()
    padded = secret.ljust(_BLOCK, b"\0")
    return sha1(padded.translate(_INNER)), sha1(padded.translate(_OUTER))


def mac(key: Keyed, text: bytes) -> bytes:
    """HMAC-SHA1 of ``text`` under ``key`` (the same bytes as ``hmac.digest``)."""
    inner = key[0].copy()
    inner.update(text)
    outer = key[1].copy()
    outer.update(inner.digest())
    return outer.digest()


def b64(digest: bytes) -> bytes:
    """Standard base64 of ``digest`` without a newline (``base64.b64encode``, one call less)."""
    return binascii.b2a_base64(digest, newline=False)


def today(clock: Callable[[], float]) -> int:
    """Days since the epoch (UTC), the count day stamps are taken from."""
    return int(clock() // DAY)


def stamp_for(day: int) -> bytes:
    return bytes((BASE32[(day >> 5) & 31], BASE32[day & 31]))


def stamp_age(stamp: bytes, day: int) -> int | None:
    """Days since the latest day not after ``day`` that has this stamp; None if not a stamp.
    ``bytes.upper`` folds ASCII only: a stamp is exactly two ASCII characters."""
    then = _STAMPS.get(stamp.upper())
    return None if then is None else (day - then) % _SLOTS


@dataclass(frozen=True, slots=True)
class Window:
    """Classic hashes accepted on addresses stamped before ``before``, in separated mode."""

    before: datetime.date
    max_age: int

    @property
    def last_day(self) -> datetime.date:
        """The last day on which an address stamped before ``before`` can still verify."""
        return self.before + datetime.timedelta(days=self.max_age - 1)

    def is_open(self, day: int) -> bool:
        return _EPOCH + datetime.timedelta(days=day) <= self.last_day

    def days_ahead(self, day: int) -> int:
        """Days from ``day`` (days since the epoch) to ``before``."""
        return (self.before - _EPOCH).days - day


def describe(mode: HashInput, alphabet: Alphabet, window: Window | None, day: int) -> list[str]:
    """Lines saying how hashes are made and checked on ``day`` (``pysrsctl check``)."""
    forgeable = " (classic SRS: forgeable)" if mode == "concatenated" else ""
    lines = [
        f"hash:        {mode} input{forgeable}, new hashes in {alphabet} "
        "(base64 and base64url both verify)"
    ]
    if mode == "concatenated":
        lines.append("window:      none needed: concatenated input accepts every classic hash")
    elif window is None:
        lines.append("window:      none: classic (concatenated) hashes are refused")
    else:
        state = "open" if window.is_open(day) else "closed"
        lines.append(
            f"window:      {state}: classic hashes accepted on addresses stamped before "
            f"{window.before}, last day {window.last_day}"
        )
    return lines


class Signer:
    """Makes and checks SRS0/SRS1 hashes under one keyring's secrets (first signs)."""

    def __init__(
        self,
        secrets: Sequence[bytes],
        *,
        mode: HashInput,
        alphabet: Alphabet,
        hash_length: int,
        hash_min: int,
        max_age: int,
        window: datetime.date | None,
        clock: Callable[[], float],
        on_warning: Callable[[str], None],
    ) -> None:
        if mode not in ("separated", "concatenated") or alphabet not in ("base64url", "base64"):
            raise ValueError("hash input must be separated|concatenated, alphabet base64url|base64")
        self._keys = [keyed(s) for s in secrets]  # the keyed pads, once per secret
        self._separated = mode == "separated"
        self._url = alphabet == "base64url"
        self.hash_length = hash_length
        self.hash_min = hash_min
        self.max_age = max_age
        self._window = (window - _EPOCH).days if window and self._separated else None
        self._clock = clock
        self._warn = on_warning

    # -- creating -------------------------------------------------------------------------
    def _encode(self, digest: bytes) -> bytes:
        text = b64(digest)[: self.hash_length]
        return text.translate(TO_URL) if self._url else text

    def sign_srs0(self, stamp: bytes, host: bytes, user: bytes) -> bytes:
        if self._separated:
            return self._encode(mac(self._keys[0], _srs0(stamp, host, user)))
        return self._encode(mac(self._keys[0], _concatenated((stamp, host, user))))

    def sign_srs1(self, host: bytes, user: bytes) -> bytes:
        if self._separated:
            return self._encode(mac(self._keys[0], _srs1(host, user)))
        return self._encode(mac(self._keys[0], _concatenated((host, user))))

    # -- verifying ------------------------------------------------------------------------
    def verify_srs0(self, given: bytes, stamp: bytes, host: bytes, user: bytes) -> bool:
        if not self._separated:
            return self._verify(given, None, (stamp, host, user))
        if self._verify(given, _srs0(stamp, host, user), ()):
            return True
        return self._in_window(stamp) and self._verify(given, None, (stamp, host, user))

    def verify_srs1(self, given: bytes, host: bytes, user: bytes) -> bool:
        if not self._separated:
            return self._verify(given, None, (host, user))
        if self._verify(given, _srs1(host, user), ()):
            return True
        # user is "<sep>HHHH=TT=host=user" (the SRS0 address without its tag): its stamp.
        inner = user[1:].split(b"=", 2)
        return (
            len(inner) == 3
            and self._in_window(inner[1])
            and self._verify(given, None, (host, user))
        )

    def _in_window(self, stamp: bytes) -> bool:
        if self._window is None:
            return False
        day = today(self._clock)
        age = stamp_age(stamp, day)
        return age is not None and age <= self.max_age and day - age < self._window

    def _verify(self, given: bytes, text: bytes | None, fields: Sequence[bytes]) -> bool:
        """postsrsd 1.10 and Mail::SRS: any case, any prefix of at least hash_min characters
        of the 27-character base64 HMAC (the 28th would be base64 padding); postsrsd 2.x:
        either alphabet."""
        if not self.hash_min <= len(given) <= FULL_HASH:
            return False
        folded = given.translate(FOLD)
        matched = False
        signed = _concatenated(fields) if text is None else text
        for key in self._keys:  # try every secret: constant work whichever one matches
            expected = b64(mac(key, signed))[: len(given)]
            if hmac.compare_digest(expected.translate(FOLD), folded):
                if not hmac.compare_digest(expected, given.translate(TO_STD)):
                    self._warn("SRS hash matched only case-insensitively (case smashed)")
                matched = True
        return matched


def _srs0(stamp: bytes, host: bytes, user: bytes) -> bytes:
    # bytes.lower() folds ASCII only, as libsrs2's tolower.
    return (b"SRS0=%s=%s=%s" % (stamp, host, user)).lower()


def _srs1(host: bytes, user: bytes) -> bytes:
    return (b"SRS1=%s=%s" % (host, user)).lower()


def _concatenated(fields: Sequence[bytes]) -> bytes:
    return b"".join(fields).lower()  # lower() folds ASCII bytes one by one: same as per field
