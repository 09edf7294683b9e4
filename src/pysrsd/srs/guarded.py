"""pysrs's Guarded scheme with pysrsd's hashes and day stamps: the one subclass of pysrs.

``engine`` hands pysrs only what it does not do on bytes itself: an SRS0 or SRS1 sender minted
elsewhere, which ``Guarded.compile`` turns into SRS1 (SRS paper, "Guarded"). Why a subclass
at all: pysrs 1.0.3 calls ``base64.encodestring`` (removed in Python 3.9) and checks hashes
and stamps with ``assert``, which ``python -O`` strips (a forged address would reverse: an
open relay). Here hash creation and verification are ``hashing.Signer``'s, the day stamp is
``hashing``'s with the injected clock, and ``parse`` (pysrs's reverse) is the engine's, so no
code path relies on ``assert``, and none uses the stdlib functions pysrs expects.

This module stays interpreted Python even when the others are compiled with mypyc: a compiled
class cannot extend an interpreted one (pysrs's ``Guarded``).

pysrs works on ``str``; pysrsd's addresses are bytes mapped 1:1 to code points (latin-1) on
the way in, so ``raw`` undoes pysrs's own ``str.encode()`` (UTF-8) of them.
"""

from __future__ import annotations

from collections.abc import Callable

from SRS.Guarded import Guarded

from pysrsd.srs.hashing import Signer, stamp_age, stamp_for, today

# The engine's reverse of an SRS local part: (host, user), or the reason it is refused.
Parse = Callable[[bytes], "tuple[bytes, bytes] | str"]


def raw(data: bytes) -> bytes:
    """Undo pysrs's ``str.encode()`` (UTF-8) of our latin-1 strings: the original bytes."""
    return data.decode("utf-8").encode("latin-1")


def text(data: bytes) -> str:
    return data.decode("latin-1")


class GuardedSRS(Guarded):  # type: ignore[misc]
    def __init__(
        self, signer: Signer, *, separator: str, clock: Callable[[], float], parse: Parse
    ) -> None:
        super().__init__(
            secret=("unused",),  # pysrs wants one; the signer holds the secrets
            maxage=signer.max_age,
            hashlength=signer.hash_length,
            hashmin=signer.hash_min,
            separator=separator,
            alwaysrewrite=True,  # the own-domain rule is policy (tables), on bytes
        )
        self._signer = signer
        self._clock = clock
        self._parse = parse

    # pysrs calls these with (host, user) to make an SRS1 address, (stamp, host, user) in
    # Shortcut.compile (which the engine's srs0 replaces; tests compare the two).
    def hash_create(self, *data: bytes) -> bytes:
        fields = [raw(d) for d in data]
        if len(fields) == 3:
            return self._signer.sign_srs0(*fields)
        return self._signer.sign_srs1(*fields)

    def hash_verify(self, given: bytes, host: bytes, user: bytes) -> bool:
        return self._signer.verify_srs1(raw(given), raw(host), raw(user))

    def timestamp_create(self, ts: float | None = None) -> str:
        return text(stamp_for(today(self._clock if ts is None else lambda: ts)))

    def timestamp_check(self, timestamp: str | bytes) -> bool:
        stamp = timestamp.encode("latin-1") if isinstance(timestamp, str) else timestamp
        age = stamp_age(stamp, today(self._clock))  # a stamp "from the future": last cycle
        return age is not None and age <= self.maxage

    def parse(self, user: str, srshost: str | None = None) -> tuple[str, str]:
        """Replaces Guarded.parse and Shortcut.parse, which rely on ``assert``."""
        parsed = self._parse(user.encode("latin-1"))
        if isinstance(parsed, str):
            raise ValueError(parsed)
        return text(parsed[0]), text(parsed[1])
