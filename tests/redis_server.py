"""A private redis-server on a free loopback port, for tests that need a real Redis.

``RedisServer(tmp).start()`` runs ``redis-server`` in the foreground (no dump files outside
``tmp``), ``kill()`` kills it without warning, ``start()`` again brings it back on the same
port. ``persistent=True`` keeps an append-only file written on every command, so a killed and
restarted server still holds what it acknowledged, as a production Redis with persistence does.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from harness import free_ports, require


class RedisServer:
    def __init__(self, tmp: Path, *, persistent: bool = False) -> None:
        require("redis-server")
        self.dir = tmp
        self.port = free_ports()[0]
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        keep = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--dir", str(self.dir), *(keep or ["--appendonly", "no"])]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.command(b"PING") == b"+PONG":
                return self
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def command(self, *words: bytes) -> bytes | None:
        """One inline command; its first reply line, or None if the server is not there."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b" ".join(words) + b"\r\n")
                return sock.makefile("rb").readline().rstrip(b"\r\n")
        except OSError:
            return None

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key`` (a bulk reply), or None when missing."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"GET " + key + b"\r\n")
            reader = sock.makefile("rb")
            if reader.readline().startswith(b"$-1"):
                return None
            return reader.readline().rstrip(b"\r\n")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        self.kill()
