"""The daemon on each event loop it can run on (asyncio's own, and uvloop from the ``speed``
extra): the same replies, byte for byte, from the real command over real sockets."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, Client, running_daemon, write_secrets

from pysrsd.srs.engine import Engine, Rewritten
from pysrsd.wire.socketmap import encode_netstring
from pysrsd.wire.tcp_table import quote, unquote

LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(params=LOOPS)
def loop(request: pytest.FixtureRequest) -> str:
    if request.param == "uvloop":
        pytest.importorskip("uvloop", reason="the speed extra is not installed")
    return str(request.param)


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return write_secrets(tmp_path / "secrets", SECRET)


def _keys(count: int) -> list[bytes]:
    odd = ["Ünï@exämple.com".encode(), b"a%b@example.org", b"SRS0=a=b=c=d@x.org"]
    return [b"user%d.name@host%d.example.com" % (i, i % 7) for i in range(count)] + odd


def test_every_reply_is_the_engines(tmp_path: Path, secrets: Path, loop: str) -> None:
    engine = Engine([SECRET.encode()], DOMAIN.encode())
    keys = _keys(300)
    with running_daemon(tmp_path, secrets, "--event-loop", loop) as daemon:
        assert f"loop='{loop}'" in daemon.log_text()
        with Client(daemon.forward_port) as fwd, Client(daemon.reverse_port) as rev:
            fwd.send(b"".join(b"get " + quote(k) + b"\n" for k in keys))  # pipelined
            replies = [fwd.reply() for _ in keys]
            for key, reply in zip(keys, replies, strict=True):
                expected = engine.forward(key)
                assert isinstance(expected, Rewritten)
                assert reply == b"200 " + quote(expected.address) + b"\n"
            for key, reply in zip(keys, replies, strict=True):
                if not key.startswith(b"SRS0"):
                    assert rev.get(unquote(reply[4:-1])) == b"200 " + quote(key) + b"\n"
            forged = replies[0][4:9] + b"XXXX" + replies[0][13:-1]
            assert rev.get(forged).startswith(b"500 ")
            assert rev.get(b"bob@example.com") == b"500 not%20an%20SRS%20address\n"
            assert fwd.get(b"no-at-sign").startswith(b"500 ")
            for byte in b"get frag@example.com\n":  # one request across many reads
                fwd.send(bytes([byte]))
            assert fwd.reply().startswith(b"200 SRS0=")
            fwd.send(b"put a b\nget\nget a%zz@b\nget c@d.example\n")
            bad = [fwd.reply() for _ in range(3)]
            assert all(r.startswith(b"500 ") for r in bad)
            assert fwd.reply().startswith(b"200 SRS0=")


def test_socketmap_limit_and_stop(tmp_path: Path, secrets: Path, loop: str) -> None:
    engine = Engine([SECRET.encode()], DOMAIN.encode())
    expected = engine.forward(b"alice@example.com")
    assert isinstance(expected, Rewritten)
    sock_path = tmp_path / "map.sock"
    extra = ("--event-loop", loop, "--socketmap", f"unix:{sock_path}", "--max-connections", "3")
    with running_daemon(tmp_path, secrets, *extra) as daemon:
        with socket.socket(socket.AF_UNIX) as sm:
            sm.connect(str(sock_path))
            sm.sendall(encode_netstring(b"forward alice@example.com"))
            assert sm.recv(4096) == encode_netstring(b"OK " + expected.address)
        oldest = Client(daemon.forward_port)
        assert oldest.get(b"a@example.com").startswith(b"200 ")
        others = [Client(daemon.forward_port) for _ in range(2)]
        assert all(c.get(b"b@example.com").startswith(b"200 ") for c in others)
        with Client(daemon.forward_port) as newcomer:  # evicts the longest idle: oldest
            assert newcomer.get(b"c@example.com").startswith(b"200 ")
        oldest.sock.settimeout(10)
        assert oldest.reader.read() == b""
        busy = others[0]
        busy.send(b"".join(b"get u%d@example.com\n" % i for i in range(500)))
        assert busy.reply().startswith(b"200 ")
        daemon.signal(signal.SIGTERM)  # what was read is still answered, then exit 0
        assert all(busy.reply().startswith(b"200 SRS0=") for _ in range(499))
        assert daemon.proc.wait(10) == 0
        for c in [oldest, *others]:
            c.close()
