"""Clients for ``pysrsctl health``: one lookup over tcp_table or socketmap, as Postfix asks.

``Endpoint.ask(table, key, timeout)`` returns the reply as a value, ``Reply(status, text)``
with status ``found``, ``not_found`` or ``temporary`` (the daemon's 400 / TEMP / PERM);
it raises ``OSError`` when the daemon cannot be reached or the reply is not well-formed
(a daemon that answers nonsense is as broken as one that is down).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from pysrsd.wire.socketmap import encode_request
from pysrsd.wire.tcp_table import quote, unquote

MAX_REPLY = 100_100  # a socketmap reply (100,000 bytes) with its netstring framing


@dataclass(frozen=True)
class Reply:
    status: str  # "found" | "not_found" | "temporary"
    text: bytes


@dataclass(frozen=True)
class Endpoint:
    """One way into the daemon: ``tcp_table`` on a host (two ports) or a ``socketmap``."""

    protocol: str  # "tcp_table" or "socketmap"
    where: str  # HOST for tcp_table; inet:HOST:PORT or unix:PATH for socketmap
    forward_port: int = 0
    reverse_port: int = 0

    @property
    def name(self) -> str:
        return f"{self.protocol} {self.where}"

    def ask(self, table: str, key: bytes, timeout: float) -> Reply:
        if self.protocol == "tcp_table":
            port = self.forward_port if table == "forward" else self.reverse_port
            with socket.create_connection((self.where, port), timeout=timeout) as sock:
                return _tcp_table(sock, key)
        kind, _, rest = self.where.partition(":")
        if kind == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(rest)
                return _socketmap(sock, table, key)
        host, _, port_text = rest.rpartition(":")
        address = (host.strip("[]"), int(port_text))
        with socket.create_connection(address, timeout=timeout) as sock:
            return _socketmap(sock, table, key)


def _tcp_table(sock: socket.socket, key: bytes) -> Reply:
    """tcp_table(5): ``get KEY`` LF → ``200 VALUE`` / ``500 ...`` / ``400 ...`` LF."""
    sock.sendall(b"get " + quote(key) + b"\n")
    line = sock.makefile("rb").readline(8192)
    if not line.endswith(b"\n"):
        raise OSError("tcp_table: no complete reply")
    code, _, text = line.rstrip(b"\n").partition(b" ")
    if code not in (b"200", b"500", b"400"):
        raise OSError(f"tcp_table: unexpected reply {line[:40]!r}")
    status = {b"200": "found", b"500": "not_found"}.get(code, "temporary")
    return Reply(status, unquote(text))


def _socketmap(sock: socket.socket, table: str, key: bytes) -> Reply:
    """socketmap_table(5): netstring ``NAME KEY`` → netstring ``OK VALUE`` / ``NOTFOUND ``."""
    sock.sendall(encode_request(table.encode(), key))
    data = b""
    while b":" not in data:
        data += _recv(sock)
    length_text, _, rest = data.partition(b":")
    if not length_text.isdigit() or int(length_text) > MAX_REPLY:
        raise OSError(f"socketmap: bad netstring length {length_text[:10]!r}")
    length = int(length_text)
    while len(rest) < length + 1:
        rest += _recv(sock)
    if rest[length : length + 1] != b",":
        raise OSError("socketmap: netstring without its ','")
    status, _, text = rest[:length].partition(b" ")
    if status not in (b"OK", b"NOTFOUND", b"TEMP", b"TIMEOUT", b"PERM"):
        raise OSError(f"socketmap: unexpected reply {status[:20]!r}")
    return Reply({b"OK": "found", b"NOTFOUND": "not_found"}.get(status, "temporary"), text)


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise OSError("connection closed before the reply")
    return chunk
