"""SRS0 for the common case, over what one day and one set of secrets precompute.

``Shortcut`` is a cache of ``engine.Engine``, not a second definition of SRS: for the inputs
it takes it returns what the engine would, byte for byte, and for any other it returns None
and the caller asks the engine (a property test drives both with the same inputs under every
setting). It holds the keyed HMAC states of every secret and, until the clock's day changes,
today's stamp in the format strings of SRS0 addresses and hash inputs, and the set of day
stamps still valid, in every ASCII case. The clock is injected and read on every call.

- ``address(host, user)``: ``SRS0=HHHH=TT=host=user@DOMAIN``, signed with the first secret,
  for a sender the engine signs as a plain SRS0 (the caller has checked that it is one: an
  unquoted local part without ``@`` that is not SRS0/SRS1, a host without ``=``).
- ``original(local)``: ``user@host`` for the local part of an SRS0 address whose day stamp
  is valid and whose hash is, in its own alphabet and case, that of one secret in the
  configured input mode. Anything else is None: SRS1, missing fields, expired or invalid
  stamps, hashes that are wrong, or right only case-insensitively (the engine warns), or only
  under classic input inside the acceptance window (the engine decides).
"""

from __future__ import annotations

import binascii
import hmac
from collections.abc import Callable, Sequence

from pysrsd.srs.hashing import (
    BASE32,
    DAY,
    FOLD,
    FULL_HASH,
    TO_STD,
    TO_URL,
    HashInput,
    keyed,
    mac,
    stamp_age,
    stamp_for,
)

_SEP = b"="
_b64 = binascii.b2a_base64  # hashing.b64 without its call


def valid_stamps(day: int, max_age: int) -> frozenset[bytes]:
    """Every two-character stamp ``stamp_age`` accepts on ``day``, in every ASCII case."""
    found: set[bytes] = set()
    for stamp in (bytes((a, b)) for a in BASE32 for b in BASE32):
        age = stamp_age(stamp, day)
        if age is not None and age <= max_age:
            low = stamp.lower()
            found.update((stamp, low, stamp[:1] + low[1:], low[:1] + stamp[1:]))
    return frozenset(found)


class Shortcut:
    """The engine's plain SRS0 forward and exact-hash SRS0 reverse, precomputed per day."""

    __slots__ = (
        "_address",
        "_alias",
        "_clock",
        "_day",
        "_hash_length",
        "_hash_min",
        "_keys",
        "_max_age",
        "_separated",
        "_sign_input",
        "_stamps",
        "_tag",
        "_url",
        "_verify_input",
    )

    def __init__(
        self,
        secrets: Sequence[bytes],
        domain: bytes,
        *,
        separator: bytes,
        hash_length: int,
        hash_min: int,
        max_age: int,
        hash_input: HashInput,
        url_alphabet: bool,
        clock: Callable[[], float],
    ) -> None:
        self._keys = [keyed(s) for s in secrets]
        self._clock = clock
        self._hash_length = hash_length
        self._hash_min = hash_min
        self._max_age = max_age
        self._separated = hash_input == "separated"
        self._url = url_alphabet
        # Parts of the %-format of an address: a literal % in them is doubled.
        self._tag = b"SRS0" + separator.replace(b"%", b"%%")
        self._alias = b"@" + domain.split(b"@")[-1].replace(b"%", b"%%")  # as the engine's
        self._day = float("nan")  # no day yet: the first call computes it
        self._address = self._sign_input = self._verify_input = b""
        self._stamps: frozenset[bytes] = frozenset()

    def _new_day(self, day: float) -> None:
        """Today's stamp in the formats, and the stamps that are valid today."""
        today = int(day)  # hashing.today: int(clock() // DAY)
        stamp = stamp_for(today)
        self._address = self._tag + b"%s=" + stamp + b"=%s=%s" + self._alias
        if self._separated:  # hashing's text: SRS0=TT=host=user, lower-cased
            self._sign_input = b"srs0=" + stamp.lower() + b"=%s=%s"
            self._verify_input = b"srs0=%s=%s=%s"
        else:  # classic: lower(TT) + lower(host) + lower(user)
            self._sign_input = stamp.lower() + b"%s%s"
            self._verify_input = b"%s%s%s"
        self._stamps = valid_stamps(today, self._max_age)
        self._day = day

    def address(self, host: bytes, user: bytes) -> bytes:
        """The SRS0 address of a plain sender ``user@host``, signed with the first secret."""
        day = self._clock() // 86400  # DAY
        if day != self._day:
            self._new_day(day)
        inner, outer = self._keys[0]  # hashing.mac and hashing.b64, inline
        inner = inner.copy()
        inner.update((self._sign_input % (host, user)).lower())
        outer = outer.copy()
        outer.update(inner.digest())
        hash_ = _b64(outer.digest(), newline=False)[: self._hash_length]
        if self._url:
            hash_ = hash_.translate(TO_URL)
        return self._address % (hash_, host, user)

    def original(self, local: bytes) -> bytes | None:
        """``user@host`` for an SRS0 local part that verifies exactly today, else None."""
        fields = local[5:].split(_SEP, 3)
        if local[3:4] != b"0" or len(fields) != 4:
            return None
        given, stamp, host, user = fields
        if not host or not user or not self._hash_min <= len(given) <= FULL_HASH:
            return None
        day = self._clock() // DAY
        if day != self._day:
            self._new_day(day)
        if stamp not in self._stamps:
            return None
        text = (self._verify_input % (stamp, host, user)).lower()
        wanted = given.translate(TO_STD)
        exact = False
        for key in self._keys:  # every secret, as the engine: constant work
            expected = _b64(mac(key, text), newline=False)[: len(given)]
            if hmac.compare_digest(expected, wanted):
                exact = True
            elif hmac.compare_digest(expected.translate(FOLD), given.translate(FOLD)):
                return None  # matched only case-insensitively: the engine warns
        return b"%s@%s" % (user, host) if exact else None
