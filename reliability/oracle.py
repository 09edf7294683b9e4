"""Expected answers, computed without pysrsd's code: the SRS0 hash and day stamp are derived
here from the published algorithm (libsrs2 / Mail::SRS: base64(HMAC-SHA1(secret, lower(stamp),
lower(host), lower(user)))[:4], stamp = base32 of the day number modulo 1024), so the daemon
runs with ``--hash-input concatenated --hash-alphabet base64`` (reliability.daemon).

Each probe is a (table, key, check) triple; ``check`` takes the decoded reply (status, value)
and says whether it is the contract's answer. Keys are chosen so that every answer is known in
advance, which lets clients pipeline freely and still verify every reply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from reliability.daemon import DOMAIN, SECRET

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Verification-only secrets the file-fault scenario puts in the secrets file (1,000 lines).
OLD_SECRETS = (b"second", *(b"old-secret-%d" % i for i in range(999)))
Reply = tuple[int, bytes]
Check = Callable[[Reply], bool]


@dataclass(frozen=True, slots=True)
class Probe:
    table: str  # "forward" | "reverse"
    key: bytes  # raw key (the wire form is %XX-encoded by the client)
    check: Check
    kind: str


def stamp(when: float) -> bytes:
    day = int(when // 86400)
    return (_BASE32[(day >> 5) & 31] + _BASE32[day & 31]).encode()


def srs0(address: bytes, when: float, secret: bytes = SECRET) -> bytes:
    user, _, host = address.rpartition(b"@")
    ts = stamp(when)
    mac = hmac.new(secret, ts.lower() + host.lower() + user.lower(), hashlib.sha1)
    digest = base64.b64encode(mac.digest())[:4]
    return b"SRS0=%s=%s=%s=%s@%s" % (digest, ts, host, user, DOMAIN.encode())


def _forward_ok(address: bytes) -> Check:
    def check(reply: Reply) -> bool:
        now = time.time()  # accept either side of a midnight crossed during the run
        return reply[0] == 200 and reply[1] in {srs0(address, now + d) for d in (-60, 0, 60)}

    return check


def _status(code: int, value: bytes | None = None) -> Check:
    def check(reply: Reply) -> bool:
        return reply[0] == code and (value is None or reply[1] == value)

    return check


def _address(rng: random.Random) -> bytes:
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    user = "".join(rng.choice(letters + "._+-") for _ in range(rng.randint(1, 20))).strip(".")
    host = ".".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(1, 12)))
        for _ in range(rng.randint(2, 4))
    )
    return f"{user or 'u'}@{host}".encode()


def probes(rng: random.Random, now: float, strict_exclusions: bool = True) -> Callable[[], Probe]:
    """A generator of probes in a realistic mix (most lookups are reverse, most not SRS).

    ``strict_exclusions=False`` while the files are being rewritten: an excluded domain may
    be rewritten (an empty map is a valid map), and a forged address may verify by chance
    under one of ``OLD_SECRETS`` (checked, see ``_collides``)."""

    def make() -> Probe:
        roll = rng.random()
        address = _address(rng)
        if roll < 0.30:
            return Probe("forward", address, _forward_ok(address), "forward")
        if roll < 0.55:  # a bounce to an address we signed
            return Probe("reverse", srs0(address, now), _status(200, address), "reverse-own")
        if roll < 0.80:  # an ordinary recipient: the fast path
            return Probe("reverse", address, _status(500), "reverse-plain")
        if roll < 0.88:  # forged: valid shape, wrong secret
            forged = srs0(address, now, secret=b"not-the-secret")
            check = _status(500)
            if not strict_exclusions:  # the secrets file may hold OLD_SECRETS too
                check = _either(check, _collides(forged, address))
            return Probe("reverse", forged, check, "reverse-forged")
        if roll < 0.93:
            key = address.rpartition(b"@")[0] + b"@excluded.example"
            check = _status(500, b"domain excluded")
            if not strict_exclusions:
                check = _either(check, _forward_ok(key))
            return Probe("forward", key, check, "forward-excluded")
        if roll < 0.97:
            key = address.rpartition(b"@")[0] + b"@" + DOMAIN.encode()
            return Probe("forward", key, _own_domain(key), "forward-own")
        return Probe("forward", address.replace(b"@", b""), _status(500), "forward-invalid")

    return make


def _collides(forged: bytes, address: bytes) -> Check:
    """A 4-character hash is compared case-insensitively (libsrs2): with 1,000 verifying
    secrets, about one forged address in 2,000 matches one of them. Such a reply is right
    only if it is the original address and the collision is real."""

    def check(reply: Reply) -> bool:
        if reply != (200, address):
            return False
        given = forged.split(b"=")[1].lower()
        stamp_time = time.time()
        return any(
            srs0(address, stamp_time, secret=s).split(b"=")[1].lower() == given for s in OLD_SECRETS
        )

    return check


def _either(a: Check, b: Check) -> Check:
    return lambda reply: a(reply) or b(reply)


def _own_domain(key: bytes) -> Check:
    def check(reply: Reply) -> bool:  # docs/settings.md: 500, or 200 with the key unchanged
        return reply[0] == 500 or reply == (200, key)

    return check


def quote(key: bytes) -> bytes:
    """tcp_table client-side %XX encoding (Postfix encodes space, %, controls, non-ASCII)."""
    out = bytearray()
    for b in key:
        if b <= 0x20 or b >= 0x7F or b == 0x25:
            out += b"%%%02X" % b
        else:
            out.append(b)
    return bytes(out)


def unquote(value: bytes) -> bytes:
    if b"%" not in value:
        return value
    head, *rest = value.split(b"%")
    return head + b"".join(bytes((int(p[:2], 16),)) + p[2:] for p in rest)


def parse_reply(line: bytes) -> Reply:
    """``200 value`` → (200, value decoded); anything unparseable → (0, line)."""
    code, sep, text = line.partition(b" ")
    if not sep or code not in (b"200", b"400", b"500"):
        return 0, line
    try:
        return int(code), unquote(text)
    except ValueError:
        return 0, line
