"""Reference SRS implementations ("oracles") driven in bulk, and the address corpus fed to them.

Not a test module: ``tests/unit/srs/test_engine_oracles.py`` imports it. The oracles are Debian's
``srs`` package (Mail::SRS, Perl) and ``postsrsd`` 1.10 (libsrs2 in C), plus ``faketime`` to run
postsrsd on another day. Everything here works on bytes: an address is any byte string.

- ``corpus()``: a deterministic list of well over a thousand sender addresses of varied shapes.
- ``mail_srs_forward`` / ``mail_srs_reverse``: one ``perl`` process per batch, addresses passed
  hex-encoded one per line, ``time`` overridden so any day can be tested.
- ``PostsrsdInstance``: postsrsd on free loopback ports (under faketime when ``now`` is given),
  one persistent tcp_table connection per table, requests pipelined.
- ``CLASSIC`` (Engine keywords) and ``CLASSIC_ARGS`` (daemon options): the oracles' hash,
  classic concatenated input in the base64 alphabet; every comparison with an oracle uses it.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, TypedDict

import pytest
from harness import free_ports, libfaketime

SRS_BIN = "/usr/bin/srs"
POSTSRSD_BIN = "/usr/sbin/postsrsd"
FAKETIME_BIN = "faketime"
DOMAIN = b"fwd.example"  # the SRS domain: never a sender domain in the corpus
DAY = 86400
# A fixed "now" (2024-06-01 12:00:00 UTC, mid-day) so no run straddles midnight.
NOW = calendar.timegm((2024, 6, 1, 12, 0, 0))


class ClassicHash(TypedDict):
    hash_input: Literal["concatenated"]
    hash_alphabet: Literal["base64"]


CLASSIC: ClassicHash = {"hash_input": "concatenated", "hash_alphabet": "base64"}
CLASSIC_ARGS = ("--hash-input", "concatenated", "--hash-alphabet", "base64")
Reply = tuple[int, bytes]  # tcp_table status and decoded value
Factory = Callable[[], str | bytes]


# -- availability -----------------------------------------------------------------------------
def missing_oracles() -> list[str]:
    """The oracle programs this machine lacks."""
    missing = [p for p in (SRS_BIN, POSTSRSD_BIN) if not os.access(p, os.X_OK)]
    if shutil.which("perl") is None:
        missing.append("perl")
    if shutil.which(FAKETIME_BIN) is None:
        missing.append(FAKETIME_BIN)
    return missing


def require_oracles() -> None:
    """Skip when an oracle is missing, unless PYSRSD_REQUIRE_SYSTEM=1 (CI): then fail."""
    missing = missing_oracles()
    if not missing:
        return
    message = f"SRS oracles not installed: {', '.join(missing)} (Debian: srs postsrsd faketime)"
    if os.environ.get("PYSRSD_REQUIRE_SYSTEM") == "1":
        pytest.fail(message)
    pytest.skip(message)


# -- corpus -----------------------------------------------------------------------------------
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ALNUM = _LOWER + _LOWER.upper() + "0123456789"
_ATEXT_SPECIALS = "!#$%&'*/?^`{|}~"
_UTF8_WORDS = [
    "café",
    "jürgen",
    "øystein",
    "名前",
    "пользователь",
    "δοκιμή",
    "ñandú",
    "ĳssel",
    "😀",
]
_UTF8_LABELS = ["bücher", "münchen", "例え", "пример", "ελλάδα", "société", "straße"]
_IDN_LABELS = ["xn--bcher-kva", "xn--mnchen-3ya", "xn--r8jz45g", "xn--e1afmkfd", "xn--hxargifdar"]
_TLDS = ["com", "org", "net", "de", "co.uk", "example", "xn--p1ai", "io"]
_B64 = _ALNUM + "+/"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _word(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _domain(rng: random.Random) -> str:
    labels = [_word(rng, _LOWER + "0123456789", 1, 12) for _ in range(rng.randint(1, 2))]
    return ".".join([*labels, rng.choice(_TLDS)])


def _local(rng: random.Random) -> str:
    return _word(rng, _LOWER + "0123456789", 1, 16)


def _fit(text: str, octets: int) -> str:
    """Cut ``text`` to at most ``octets`` UTF-8 bytes without splitting a character."""
    return text.encode()[:octets].decode("utf-8", "ignore")


def _long_domain(rng: random.Random, octets: int, utf8: bool) -> str:
    labels: list[str] = []
    while len(".".join(labels).encode()) < octets:
        if utf8:
            labels.append(_fit("".join(rng.choice(_UTF8_LABELS) for _ in range(8)), 63))
        else:
            labels.append(_word(rng, _LOWER, 40, 63))
    text = ".".join(labels).encode()[:octets].decode("utf-8", "ignore").strip(".")
    return text.replace("..", ".a.")


def _srs0(rng: random.Random, sep: str, tag: str = "SRS0") -> str:
    stamp = rng.choice(_B32) + rng.choice(_B32)
    return f"{tag}{sep}{_word(rng, _B64, 4, 4)}={stamp}={_domain(rng)}={_local(rng)}"


def _srs1(rng: random.Random, sep: str, inner_sep: str, tag: str = "SRS1") -> str:
    inner = _srs0(rng, inner_sep)[4:]  # "=HHHH=TT=host=user": SRS1 keeps the inner separator
    return f"{tag}{sep}{_word(rng, _B64, 4, 4)}={_domain(rng)}={inner}"


def _case_tag(rng: random.Random, tag: str) -> str:
    return "".join(c.lower() if rng.random() < 0.5 else c for c in tag)


def _shapes(rng: random.Random) -> Iterator[tuple[str, int, Factory]]:
    """(name, count, factory) for each corpus shape; factories return str or bytes."""
    yield "plain", 150, lambda: f"{_local(rng)}@{_domain(rng)}"
    yield "upper", 50, lambda: f"{_local(rng).upper()}@{_domain(rng).upper()}"
    yield "mixed", 80, lambda: f"{_word(rng, _ALNUM, 1, 20)}@{_word(rng, _ALNUM, 2, 15)}.CoM"
    yield "digits", 30, lambda: f"{rng.randint(0, 10**12)}@{rng.randint(1, 999)}.example.net"

    def punctuated() -> str:
        parts = [_word(rng, _ALNUM, 1, 8) for _ in range(rng.randint(2, 4))]
        return "".join(p + rng.choice(".+-=_") for p in parts) + f"x@{_domain(rng)}"

    yield "punctuated", 150, punctuated
    yield "atext", 50, lambda: f"{_word(rng, _ALNUM + _ATEXT_SPECIALS, 1, 20)}@{_domain(rng)}"
    yield "utf8-local", 80, lambda: f"{rng.choice(_UTF8_WORDS)}{_local(rng)}@{_domain(rng)}"
    yield (
        "utf8-domain",
        80,
        lambda: f"{_local(rng)}@{rng.choice(_UTF8_LABELS)}.{rng.choice(_UTF8_LABELS)}",
    )
    yield (
        "utf8-both",
        40,
        lambda: f"{rng.choice(_UTF8_WORDS).upper()}@{rng.choice(_UTF8_LABELS).upper()}.de",
    )
    yield "idn", 50, lambda: f"{_local(rng)}@{rng.choice(_IDN_LABELS)}.{rng.choice(_TLDS)}"
    yield "subdomain", 60, lambda: f"{_local(rng)}@" + ".".join(_local(rng) for _ in range(5))
    yield "single-label", 40, lambda: f"{_local(rng)}@{_word(rng, _LOWER, 1, 10)}"

    def long_ascii() -> str:
        local = _word(rng, _ALNUM + ".-_+", rng.randint(40, 64), 64)
        return f"{local}@{_long_domain(rng, rng.randint(100, 255), utf8=False)}"

    def long_utf8() -> str:
        local = _fit("".join(rng.choice(_UTF8_WORDS) for _ in range(20)), rng.randint(30, 64))
        return f"{local}@{_long_domain(rng, rng.randint(60, 255), utf8=True)}"

    yield "long-ascii", 40, long_ascii
    yield "long-utf8", 30, long_utf8
    for sep in "=+-":
        yield from _srs_shapes(rng, sep)
    yield "srs-lookalike", 30, lambda: f"SRS{rng.choice('0123')}{rng.choice('x_.')}a@{_domain(rng)}"
    yield "raw-latin1", 20, lambda: bytes(rng.randint(0xA0, 0xFF) for _ in range(6)) + b"@ex.org"


def _srs_shapes(rng: random.Random, sep: str) -> Iterator[tuple[str, int, Factory]]:
    """SRS0 and SRS1 addresses minted elsewhere with first separator ``sep``, any tag case."""

    def srs0() -> str:
        return f"{_srs0(rng, sep)}@{_domain(rng)}"

    def srs0_case() -> str:
        return f"{_srs0(rng, sep, _case_tag(rng, 'SRS0'))}@{_domain(rng)}"

    def srs1() -> str:
        return f"{_srs1(rng, sep, rng.choice('=+-'))}@{_domain(rng)}"

    def srs1_case() -> str:
        return f"{_srs1(rng, sep, '=', _case_tag(rng, 'SRS1'))}@{_domain(rng)}"

    yield f"srs0{sep}", 40, srs0
    yield f"srs0{sep}-case", 15, srs0_case
    yield f"srs1{sep}", 30, srs1
    yield f"srs1{sep}-case", 10, srs1_case


def corpus(seed: int = 20240601) -> list[bytes]:
    """Sender addresses (bytes), deterministic for a seed, none at ``DOMAIN``, no duplicates."""
    rng = random.Random(seed)
    seen: dict[bytes, None] = {}
    for _name, count, factory in _shapes(rng):
        for _ in range(count):
            made = factory()
            address = made if isinstance(made, bytes) else made.encode()
            seen.setdefault(address, None)
    return list(seen)


def corpus_by_shape(seed: int = 20240601) -> dict[str, list[bytes]]:
    """The same corpus, grouped by shape name (for reporting which shapes disagree)."""
    rng = random.Random(seed)
    groups: dict[str, list[bytes]] = {}
    for name, count, factory in _shapes(rng):
        made = (factory() for _ in range(count))
        groups[name] = [m if isinstance(m, bytes) else m.encode() for m in made]
    return groups


# -- Mail::SRS --------------------------------------------------------------------------------
_PERL_DRIVER = r"""
BEGIN {
    *CORE::GLOBAL::time = sub { length($ENV{SRS_NOW} // '') ? $ENV{SRS_NOW} : CORE::time() };
}
use strict;
use warnings;
use Mail::SRS;
$SIG{__WARN__} = sub { };    # case-smash notices and undef warnings on malformed input
my %args = (
    Secret     => [ map { pack 'H*', $_ } split /,/, $ENV{SRS_SECRETS} ],
    Separator  => $ENV{SRS_SEP},
    HashLength => $ENV{SRS_HASHLEN},
    HashMin    => $ENV{SRS_HASHMIN},
    MaxAge     => $ENV{SRS_MAXAGE},
);
my $srs = Mail::SRS->new(%args);
my $alias = pack 'H*', $ENV{SRS_ALIAS};
my $forward = $ENV{SRS_MODE} eq 'forward';
while (my $line = <STDIN>) {
    chomp $line;
    my $address = pack 'H*', $line;
    my $out = eval { $forward ? $srs->forward($address, $alias) : $srs->reverse($address) };
    if (defined $out) {
        print '+', unpack('H*', $out), "\n";
    } else {
        print "-\n";    # the reason would echo raw address bytes
    }
}
"""


def _mail_srs(
    mode: str,
    secrets: Sequence[bytes],
    addrs: Sequence[bytes],
    *,
    domain: bytes,
    separator: str,
    hash_length: int,
    hash_min: int | None,
    max_age: int,
    now: float | None,
) -> list[bytes | None]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SRS_MODE": mode,
        "SRS_SECRETS": ",".join(s.hex() for s in secrets),
        "SRS_ALIAS": domain.hex(),
        "SRS_SEP": separator,
        "SRS_HASHLEN": str(hash_length),
        "SRS_HASHMIN": str(hash_min or hash_length),
        "SRS_MAXAGE": str(max_age),
        "SRS_NOW": "" if now is None else str(int(now)),
    }
    stdin = "".join(a.hex() + "\n" for a in addrs)
    done = subprocess.run(
        ["perl", "-e", _PERL_DRIVER],
        input=stdin.encode(),
        capture_output=True,
        env=env,
        check=True,
        timeout=120,
    )
    lines = done.stdout.decode("ascii").splitlines()
    if len(lines) != len(addrs):
        raise RuntimeError(f"Mail::SRS answered {len(lines)} of {len(addrs)}: {done.stderr!r}")
    return [bytes.fromhex(line[1:]) if line[:1] == "+" else None for line in lines]


def mail_srs_forward(
    secret: bytes | Sequence[bytes],
    domain: bytes,
    addrs: Sequence[bytes],
    *,
    separator: str = "=",
    hashlength: int = 4,
    now: float | None = None,
) -> list[bytes | None]:
    """Mail::SRS (Guarded) forward of each address to ``domain``; None where it dies."""
    secrets = [secret] if isinstance(secret, bytes) else list(secret)
    return _mail_srs(
        "forward",
        secrets,
        addrs,
        domain=domain,
        separator=separator,
        hash_length=hashlength,
        hash_min=None,
        max_age=21,
        now=now,
    )


def mail_srs_reverse(
    secret: bytes | Sequence[bytes],
    addrs: Sequence[bytes],
    *,
    separator: str = "=",
    hashlength: int = 4,
    hashmin: int | None = None,
    max_age: int = 21,
    now: float | None = None,
) -> list[bytes | None]:
    """Mail::SRS reverse of each address; None where it dies (bad hash, stamp, syntax)."""
    secrets = [secret] if isinstance(secret, bytes) else list(secret)
    return _mail_srs(
        "reverse",
        secrets,
        addrs,
        domain=DOMAIN,
        separator=separator,
        hash_length=hashlength,
        hash_min=hashmin,
        max_age=max_age,
        now=now,
    )


# -- postsrsd ---------------------------------------------------------------------------------
def _encode_key(key: bytes) -> bytes:
    """tcp_table(5) %XX for ``%``, space and controls. Bytes >= 0x80 go raw (postsrsd takes
    them): fully encoded, a 64+255-octet UTF-8 address would pass postsrsd's 1024-byte line."""
    return b"".join(b"%%%02X" % c if c <= 0x20 or c in b"%\x7f" else bytes([c]) for c in key)


def _decode_value(value: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(value):
        if value[i : i + 1] == b"%" and i + 3 <= len(value):
            out.append(int(value[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(value[i])
            i += 1
    return bytes(out)


class _Connection:
    """One persistent tcp_table client connection; requests are pipelined by a writer thread."""

    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise  # postsrsd gave up (e.g. its port was taken): the caller retries
                time.sleep(0.02)
        self._reader = self._sock.makefile("rb")

    def get_many(self, keys: Sequence[bytes]) -> list[Reply]:
        requests = b"".join(b"get " + _encode_key(k) + b"\n" for k in keys)
        writer = threading.Thread(target=self._sock.sendall, args=(requests,), daemon=True)
        writer.start()
        replies = []
        for _ in keys:
            line = self._reader.readline()
            if not line.endswith(b"\n"):
                raise RuntimeError("postsrsd closed the connection")
            status, _, value = line.rstrip(b"\n").partition(b" ")
            replies.append((int(status), _decode_value(value)))
        writer.join()
        return replies

    def close(self) -> None:
        self._reader.close()
        self._sock.close()


class PostsrsdInstance:
    """postsrsd 1.10 on free loopback ports, with a secrets file (first line signs).

    ``now`` (Unix time) runs it under faketime, starting at that instant.
    ``always_rewrite`` passes ``-A``; ``hash_min`` maps to ``-N`` (postsrsd's default is 4).
    """

    def __init__(
        self,
        secrets: Sequence[bytes],
        domain: bytes = DOMAIN,
        *,
        separator: str = "=",
        hash_length: int = 4,
        hash_min: int | None = None,
        always_rewrite: bool = True,
        now: float | None = NOW,
    ) -> None:
        self.secrets = list(secrets)
        self.domain = domain
        self.separator = separator
        self.hash_length = hash_length
        self.hash_min = hash_min
        self.always_rewrite = always_rewrite
        self.now = now
        self._stack = contextlib.ExitStack()

    def _command(self, secrets_file: Path, forward_port: int, reverse_port: int) -> list[str]:
        command = [
            POSTSRSD_BIN,
            f"-s{secrets_file}",
            f"-d{self.domain.decode()}",
            f"-f{forward_port}",
            f"-r{reverse_port}",
            "-l127.0.0.1",
            f"-a{self.separator}",
            f"-n{self.hash_length}",
        ]
        if self.hash_min is not None:
            command.append(f"-N{self.hash_min}")
        if self.always_rewrite:
            command.append("-A")
        if self.now is not None:
            # libfaketime preloaded, not the faketime command: stopped by a signal, the command
            # leaves its shared memory and semaphore behind, named by its pid, and once pids
            # wrap a later faketime of the same pid fails ("sem_open: File exists").
            start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.now))
            command = ["env", f"LD_PRELOAD={libfaketime()}", f"FAKETIME=@{start}", *command]
        return [sys.executable, "-c", _REAPER, *command]

    def __enter__(self) -> PostsrsdInstance:
        try:
            tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
            secrets_file = tmp / "secrets"
            secrets_file.write_bytes(b"".join(s + b"\n" for s in self.secrets))
            for attempt in range(5):  # a free port can be taken by another process meanwhile
                ports = free_ports(2)
                process = subprocess.Popen(
                    self._command(secrets_file, *ports),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, "TZ": "UTC"},
                    start_new_session=True,  # the reaper's group: postsrsd and its children
                )
                self._stack.callback(_stop, process)
                try:
                    self._forward = _Connection(ports[0], process)
                    self._stack.callback(self._forward.close)
                    self._reverse = _Connection(ports[1], process)
                    self._stack.callback(self._reverse.close)
                    break
                except OSError:
                    if attempt == 4:
                        raise
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def forward(self, addrs: Sequence[bytes]) -> list[Reply]:
        return self._forward.get_many(addrs)

    def reverse(self, addrs: Sequence[bytes]) -> list[Reply]:
        return self._reverse.get_many(addrs)


# postsrsd 1.10 forks per connection and reaps its children late; faketime forks postsrsd.
# This wrapper (a session leader and child subreaper) runs the command, reaps every process
# below it, and on SIGTERM terminates its whole group, so nothing is left over, not even a
# zombie under an init that does not reap.
_REAPER = r"""
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
def stop(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGTERM)
signal.signal(signal.SIGTERM, stop)
if os.fork() == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        pass
"""


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def found(replies: Sequence[Reply]) -> list[bytes | None]:
    """postsrsd replies as "value or None", the same shape as the Mail::SRS helpers."""
    return [value if status == 200 else None for status, value in replies]
