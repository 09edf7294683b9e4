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

import base64
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
_BASE32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SLOTS = len(_BASE32) ** 2  # a two-character stamp cycles every 1024 days
_STAMPS = {bytes((a, b)): i * 32 + j for i, a in enumerate(_BASE32) for j, b in enumerate(_BASE32)}
_TO_URL = bytes.maketrans(b"+/", b"-_")
_TO_STD = bytes.maketrans(b"-_", b"+/")
# One pass folds both alphabets and ASCII case: the form every comparison is made in.
_FOLD = bytes.maketrans(b"-_ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"+/abcdefghijklmnopqrstuvwxyz")
_EPOCH = datetime.date(1970, 1, 1)


def today(clock: Callable[[], float]) -> int:
    """Days since the epoch (UTC), the count day stamps are taken from."""
    return int(clock() // DAY)


def stamp_for(day: int) -> bytes:
    return bytes((_BASE32[(day >> 5) & 31], _BASE32[day & 31]))


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
        # The keyed inner/outer pads are computed once per secret; each hash copies them.
        self._keys = [hmac.new(s, digestmod=hashlib.sha1) for s in secrets]
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
        text = base64.b64encode(digest)[: self.hash_length]
        return text.translate(_TO_URL) if self._url else text

    def sign_srs0(self, stamp: bytes, host: bytes, user: bytes) -> bytes:
        mac = self._keys[0].copy()
        if self._separated:
            mac.update(_srs0(stamp, host, user))
        else:
            _concatenate(mac, (stamp, host, user))
        return self._encode(mac.digest())

    def sign_srs1(self, host: bytes, user: bytes) -> bytes:
        mac = self._keys[0].copy()
        if self._separated:
            mac.update(_srs1(host, user))
        else:
            _concatenate(mac, (host, user))
        return self._encode(mac.digest())

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
        folded = given.translate(_FOLD)
        matched = False
        for key in self._keys:  # try every secret: constant work whichever one matches
            mac = key.copy()
            if text is None:
                _concatenate(mac, fields)
            else:
                mac.update(text)
            expected = base64.b64encode(mac.digest())[: len(given)]
            if hmac.compare_digest(expected.translate(_FOLD), folded):
                if not hmac.compare_digest(expected, given.translate(_TO_STD)):
                    self._warn("SRS hash matched only case-insensitively (case smashed)")
                matched = True
        return matched


def _srs0(stamp: bytes, host: bytes, user: bytes) -> bytes:
    # bytes.lower() folds ASCII only, as libsrs2's tolower.
    return (b"SRS0=%s=%s=%s" % (stamp, host, user)).lower()


def _srs1(host: bytes, user: bytes) -> bytes:
    return (b"SRS1=%s=%s" % (host, user)).lower()


def _concatenate(mac: hmac.HMAC, fields: Sequence[bytes]) -> None:
    for field in fields:
        mac.update(field.lower())
