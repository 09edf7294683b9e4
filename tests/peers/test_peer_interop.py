"""pysrsd against pfix-srsd and postsrsd 2.4 built from source (``SRS_PEERS``, see
conftest.py): what docs/migrating.md and docs/hash.md say about them, on the real programs.

- pfix-srsd's addresses reverse in pysrsd in the acceptance window and in concatenated mode;
  in concatenated mode (base64) the two mint the same addresses and read each other's; pfix-srsd
  cannot read pysrsd's separated addresses (why a rollback needs the compatible scheme); how
  pfix-srsd reads its secrets file; its socketmap names.
- postsrsd 2.4 (embedded): its base64url addresses reverse in pysrsd in the window; pysrsd in
  concatenated mode mints what it mints and each reads the other's; it reverses any domain; how
  it reads its secrets file.
- postsrsd 2.4 and pysrsd sharing one SQLite file and one Redis (``original-envelope
  database``): each reverses the other's addresses, and pysrsd those postsrsd left behind.

Every program runs under libfaketime from the same instant, so the day stamps agree. Expected
values come from the peers themselves or from HMAC computed here, not from pysrsd.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import (
    Daemon,
    clock_environment,
    found_values,
    free_ports,
    running,
)
from oracles import corpus
from redis_server import RedisServer

DOMAIN = "fwd.example"
SECRET = b"peer interop secret, 32 bytes.."
DAY = 86400
B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SENDERS = [
    b"alice@example.com",
    b"Bob.Smith@Example.ORG",
    b"x=y+z@sub.example.net",
    b"mbob@gmail.co",
]
# The old daemon's last moment and the day after it (docs/migrating.md, "Which date").
STOP = float(calendar.timegm((2026, 3, 10, 14, 0, 0)))
DATE = "2026-03-11"

pytestmark = pytest.mark.usefixtures("peers")


# -- processes ------------------------------------------------------------------------------
def _connectable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def peer(
    argv: Sequence[str], env: dict[str, str], ports: Sequence[int], log: Path
) -> Iterator[None]:
    """A peer in its own session (it forks workers); stopped with its whole group."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            list(argv), stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 15
        while not all(_connectable(port) for port in ports):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def pfix_srsd(
    peers: Path, tmp: Path, secrets: Path, when: float, *options: str
) -> Iterator[tuple[int, int]]:
    """pfix-srsd on tcp_table (its start script: foreground, keeps the account)."""
    ports = free_ports(2)
    script = str(peers / "start-pfix-srsd.sh")
    argv = [script, DOMAIN, str(secrets), *map(str, ports), *options]
    with peer(argv, clock_environment(when), ports, tmp / "pfix-srsd.log"):
        yield ports[0], ports[1]


@contextmanager
def postsrsd2(peers: Path, tmp: Path, secrets: Path, when: float, *database: str) -> Iterator[int]:
    """postsrsd 2.4 with a socketmap on a loopback port; ``database``: "database", URI."""
    (port,) = free_ports(1)
    argv = [str(peers / "start-postsrsd2.sh"), DOMAIN, str(secrets), str(port), *database]
    env = clock_environment(when, POSTSRSD2_USER="")  # no chroot, no setuid: paths as given
    with peer(argv, env, [port], tmp / "postsrsd2.log"):
        yield port


@contextmanager
def pysrsd(tmp: Path, when: float, *options: str) -> Iterator[Daemon]:
    root = ["--allow-root"] if os.geteuid() == 0 else []
    argv = [sys.executable, "-m", "pysrsd", "-e", "0", "-d", "0", *root, *options]
    env = clock_environment(when, PYSRSD_CONFIG=os.devnull)
    with running(tmp, [*argv, DOMAIN, str(tmp / "secrets")], env) as daemon:
        yield daemon


# -- lookups ---------------------------------------------------------------------------------
def socketmap(port: int, name: bytes, keys: Sequence[bytes]) -> list[bytes | None]:
    """socketmap_table(5) queries on one connection; OK values, None otherwise."""
    answers: list[bytes | None] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for key in keys:
            query = name + b" " + key
            sock.sendall(b"%d:%s," % (len(query), query))
            length = b""
            while not length.endswith(b":"):
                length += reader.read(1)
            reply = reader.read(int(length[:-1]))
            assert reader.read(1) == b","
            status, _, value = reply.partition(b" ")
            answers.append(value if status == b"OK" else None)
    return answers


# -- addresses -------------------------------------------------------------------------------
def stamp(when: float) -> bytes:
    day = int(when // DAY)
    return bytes((B32[(day >> 5) & 31], B32[day & 31]))


def forwarded_srs0(when: float) -> bytes:
    """An SRS0 sender another forwarder minted on that day (becomes SRS1)."""
    return b"SRS0=abcd=%s=orig.example=carol@hop1.example" % stamp(when)


def classic_hash(key: bytes, when: float, host: bytes, user: bytes) -> bytes:
    """libsrs2's: base64 of HMAC-SHA1 over lower(stamp) + lower(host) + lower(user), 4 chars."""
    text = (stamp(when) + host + user).lower()
    return base64.b64encode(hmac.new(key, text, hashlib.sha1).digest())[:4]


def forged(address: bytes) -> bytes:
    other = b"Q" if address[5:6].upper() != b"Q" else b"Z"
    return address[:5] + other + address[6:]


def secrets_file(tmp: Path, content: bytes = SECRET + b"\n") -> Path:
    path = tmp / "secrets"
    path.write_bytes(content)
    path.chmod(0o600)
    return path


def plain_corpus() -> list[bytes]:
    """Oracle corpus senders that are not SRS addresses, a sample."""
    return [s for s in corpus()[::9] if s[:3].upper() != b"SRS"]


def pfix_corpus() -> list[bytes]:
    """The sample without keys whose last byte travels %XX-encoded in tcp_table (UTF-8, say):
    pfix-srsd leaves a key's last escape undecoded (urldecode's bound is off by one), so it
    signs ``...%B1`` where the sender had the byte 0xB1."""
    return [s for s in plain_corpus() if 0x20 < s[-1] < 0x7F and s[-1:] != b"%"]


WINDOW = ["-s", "=", "-I", "--accept-concatenated-before", DATE]  # docs/migrating.md
CLASSIC_B64 = ["--hash-input", "concatenated", "--hash-alphabet", "base64"]


# -- pfix-srsd -------------------------------------------------------------------------------
def test_pfix_srsd_addresses_reverse_in_pysrsd_after_the_switch(
    peers: Path, open_tmp: Path
) -> None:
    secrets = secrets_file(open_tmp)
    senders = [*SENDERS, *pfix_corpus(), forwarded_srs0(STOP)]
    with pfix_srsd(peers, open_tmp, secrets, STOP - 3600) as (fwd, rev):
        minted = [a for a in found_values(fwd, senders) if a is not None]
        truth = found_values(rev, minted)
        assert found_values(rev, [forged(a) for a in minted]) == [None] * len(minted)
    assert None not in truth and len(minted) > len(senders) - 5
    with pysrsd(open_tmp, STOP + 5, *WINDOW) as daemon:
        assert found_values(daemon.reverse_port, minted) == truth
        assert found_values(daemon.reverse_port, [forged(a) for a in minted]) == [None] * len(
            minted
        )


def test_pfix_srsd_and_pysrsd_in_concatenated_mode_read_each_other(
    peers: Path, open_tmp: Path
) -> None:
    secrets = secrets_file(open_tmp)
    senders = [*SENDERS, *pfix_corpus(), forwarded_srs0(STOP)]
    with (
        pfix_srsd(peers, open_tmp, secrets, STOP) as (fwd, rev),
        pysrsd(open_tmp, STOP, *CLASSIC_B64) as daemon,
    ):
        theirs = found_values(fwd, senders)
        ours = found_values(daemon.forward_port, senders)
        assert ours == theirs
        minted = [a for a in ours if a is not None]
        assert found_values(rev, minted) == found_values(daemon.reverse_port, minted)
        assert None not in found_values(rev, minted)


def test_pfix_srsd_cannot_read_separated_addresses(peers: Path, open_tmp: Path) -> None:
    """docs/migrating.md, Rollback: what pysrsd mints by default is lost to pfix-srsd."""
    secrets = secrets_file(open_tmp)
    with pysrsd(open_tmp, STOP + DAY) as daemon:
        ours = [a for a in found_values(daemon.forward_port, SENDERS) if a is not None]
        assert found_values(daemon.reverse_port, ours) == SENDERS
    with pfix_srsd(peers, open_tmp, secrets, STOP + DAY + 5) as (_fwd, rev):
        assert found_values(rev, ours) == [None] * len(SENDERS)


def test_pfix_srsd_trims_its_secrets_and_takes_a_blank_line_as_a_secret(
    peers: Path, open_tmp: Path
) -> None:
    """docs/migrating.md, "The secrets file": pfix-srsd signs with the line trimmed of white
    space; with an empty first line it signs with the empty secret."""
    spaced = secrets_file(open_tmp, b"  " + SECRET + b" \n")
    with pfix_srsd(peers, open_tmp, spaced, STOP) as (fwd, _rev):
        (address,) = found_values(fwd, [b"alice@example.com"])
    assert address is not None
    assert address.split(b"=")[1] == classic_hash(SECRET, STOP, b"example.com", b"alice")
    with pysrsd(open_tmp, STOP + 5, *CLASSIC_B64) as daemon:  # the same file, untrimmed
        assert found_values(daemon.reverse_port, [address]) == [None]
    blank = secrets_file(open_tmp, b"\n" + SECRET + b"\n")
    with pfix_srsd(peers, open_tmp, blank, STOP) as (fwd, _rev):
        (address,) = found_values(fwd, [b"alice@example.com"])
    assert address is not None
    assert address.split(b"=")[1] == classic_hash(b"", STOP, b"example.com", b"alice")


def test_pfix_srsd_socketmap_names_work_with_pysrsd(peers: Path, open_tmp: Path) -> None:
    """pfix-srsd -P socketmap -l PORT and pysrsd --socketmap inet: the same map names, and
    each reverses the other's addresses (pysrsd in concatenated mode)."""
    secrets = secrets_file(open_tmp)
    theirs, ours = free_ports(2)
    binary = [str(peers / "bin" / "pfix-srsd"), "-f", "-u", "-P", "socketmap", "-l", str(theirs)]
    with (
        peer(
            [*binary, DOMAIN, str(secrets)],
            clock_environment(STOP),
            [theirs],
            open_tmp / "pfix.log",
        ),
        pysrsd(
            open_tmp,
            STOP,
            *CLASSIC_B64,
            "--listen",
            "none",
            "--socketmap",
            f"inet:127.0.0.1:{ours}",
        ),
    ):
        made = socketmap(theirs, b"srsencoder", SENDERS)
        assert socketmap(ours, b"srsencoder", SENDERS) == made
        minted = [a for a in made if a is not None]
        assert socketmap(ours, b"srsdecoder", minted) == SENDERS
        assert socketmap(theirs, b"srsdecoder", minted) == SENDERS


# -- postsrsd 2.4, embedded -----------------------------------------------------------------
def test_postsrsd2_base64url_addresses_reverse_in_pysrsd_after_the_switch(
    peers: Path, open_tmp: Path
) -> None:
    secrets = secrets_file(open_tmp)
    senders = [*SENDERS, *plain_corpus(), forwarded_srs0(STOP)]
    with postsrsd2(peers, open_tmp, secrets, STOP - 3600) as port:
        minted = [a for a in socketmap(port, b"forward", senders) if a is not None]
        truth = socketmap(port, b"reverse", minted)
    hashes = b"".join(a.split(b"=")[1] for a in minted)
    assert b"-" in hashes or b"_" in hashes  # base64url
    assert b"+" not in hashes and b"/" not in hashes
    assert None not in truth
    with pysrsd(open_tmp, STOP + 5, *WINDOW) as daemon:
        assert found_values(daemon.reverse_port, minted) == truth
        assert found_values(daemon.reverse_port, [forged(a) for a in minted]) == [None] * len(
            minted
        )


def test_postsrsd2_and_pysrsd_in_concatenated_mode_read_each_other(
    peers: Path, open_tmp: Path
) -> None:
    """``hash-input = "concatenated"`` with the default base64url alphabet mints what postsrsd
    2.4 mints; postsrsd refuses pysrsd's separated addresses (the rollback hazard)."""
    secrets = secrets_file(open_tmp)
    senders = [*SENDERS, *plain_corpus()]
    with (
        postsrsd2(peers, open_tmp, secrets, STOP) as port,
        pysrsd(open_tmp, STOP, "--hash-input", "concatenated") as classic,
        pysrsd(open_tmp, STOP) as separated,
    ):
        theirs = socketmap(port, b"forward", senders)
        assert found_values(classic.forward_port, senders) == theirs
        minted = [a for a in theirs if a is not None]
        assert socketmap(port, b"reverse", minted) == found_values(classic.reverse_port, minted)
        ours = [a for a in found_values(separated.forward_port, SENDERS) if a is not None]
        assert socketmap(port, b"reverse", ours) == [None] * len(SENDERS)


def test_postsrsd2_reverses_any_domain_and_reads_secrets_lines_up_to_cr_lf(
    peers: Path, open_tmp: Path
) -> None:
    """docs/migrating.md's table: postsrsd 2.x reverses SRS addresses at any domain; a line of
    only blanks is a secret to it (pysrsd skips it)."""
    blank = secrets_file(open_tmp, b" \r\n" + SECRET + b"\n")
    with postsrsd2(peers, open_tmp, blank, STOP) as port:
        (address,) = socketmap(port, b"forward", [b"alice@example.com"])
        assert address is not None
        moved = address.replace(DOMAIN.encode(), b"elsewhere.example")
        assert socketmap(port, b"reverse", [moved]) == [b"alice@example.com"]
    url = bytes.maketrans(b"+/", b"-_")
    expected = classic_hash(b" ", STOP, b"example.com", b"alice").translate(url)
    assert address.split(b"=")[1] == expected


# -- postsrsd 2.4 and pysrsd sharing the envelope database --------------------------------
def shared_database(peers: Path, tmp: Path, postsrsd_uri: str, pysrsd_uri: str) -> None:
    """Both running at once on one database (pysrsd in concatenated mode, so that postsrsd can
    check its hashes): each reverses the other's database addresses. Then, postsrsd gone,
    pysrsd in its default mode with the window reverses the ones postsrsd minted."""
    secrets = secrets_file(tmp)
    database = ["--original-envelope", "database", "--envelope-database", pysrsd_uri]
    theirs_senders = [b"alice@example.com", b"Long.Name+tag@lists.example.org"]
    ours_senders = [b"bob@example.net", "jürgen@bücher.example".encode()]
    with (
        postsrsd2(peers, tmp, secrets, STOP - 3600, "database", postsrsd_uri) as port,
        pysrsd(tmp, STOP - 3600, "--hash-input", "concatenated", *database) as daemon,
    ):
        theirs = socketmap(port, b"forward", theirs_senders)
        ours = found_values(daemon.forward_port, ours_senders)
        for address in (*theirs, *ours):
            assert address is not None and b"=1=" in address, address
        minted_theirs = [a for a in theirs if a is not None]
        minted_ours = [a for a in ours if a is not None]
        assert found_values(daemon.reverse_port, minted_theirs) == theirs_senders
        assert socketmap(port, b"reverse", minted_ours) == ours_senders
    with pysrsd(tmp, STOP + 5, *WINDOW, *database) as daemon:
        assert found_values(daemon.reverse_port, minted_theirs) == theirs_senders


def test_postsrsd2_and_pysrsd_share_one_sqlite_file(peers: Path, open_tmp: Path) -> None:
    path = open_tmp / "senders.sqlite"
    shared_database(peers, open_tmp, f"sqlite:{path}", f"sqlite:{path}")


def test_postsrsd2_and_pysrsd_share_one_redis(peers: Path, open_tmp: Path) -> None:
    redis = RedisServer(open_tmp).start()
    try:
        shared_database(
            peers, open_tmp, f"redis:127.0.0.1:{redis.port}", f"redis://127.0.0.1:{redis.port}"
        )
        keys = redis.command(b"DBSIZE")
        assert keys == b":4", keys  # PostSRSd/ALIAS@1 for the four senders
    finally:
        redis.stop()
