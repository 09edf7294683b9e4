"""asyncio transport: moves bytes between sockets and codecs, nothing else.

data_received → codec.receive → tables.lookup (synchronous, microseconds) → codec.encode →
one write. Because lookups never await, replies leave in request order without queues.

Bounds (STYLE rule 7):
- request size: the codec's (tcp_table ``max_line``, socketmap 100,000 bytes);
- write buffer: above ``HIGH_WATER`` bytes unsent to a peer that does not read, we stop
  reading from it until the buffer drains below ``LOW_WATER`` (uvicorn flow_control);
- connections: at ``max_connections`` the longest-idle connection (least recently active,
  nothing left to send) is closed to admit the newcomer; Postfix reconnects by itself. Only
  when every connection has replies pending is the newcomer closed;
- idle time: connections quiet for ``idle_timeout`` seconds are closed (Postfix never hangs up).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Callable

import structlog

from pysrsd import tables
from pysrsd.lookup import Codec, Malformed, Query, Table
from pysrsd.state import Runtime

log = structlog.get_logger("pysrsd.server")
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024
_EVICTION_SCAN = 64  # connections examined for an idle victim before refusing a newcomer


class Hub:
    """The live connections of every listener, least recently active first."""

    def __init__(self, runtime: Runtime, max_connections: int, idle_timeout: float) -> None:
        self.runtime = runtime
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.connections: OrderedDict[Connection, None] = OrderedDict()
        self.refused = 0
        self.evicted = 0

    def admit(self, conn: Connection) -> bool:
        if len(self.connections) >= self.max_connections:
            victim = self._idle_victim()
            if victim is None:
                self.refused += 1
                return False
            self.evicted += 1
            self.forget(victim)
            victim.close()
        self.connections[conn] = None
        return True

    def _idle_victim(self) -> Connection | None:
        for conn in itertools.islice(self.connections, _EVICTION_SCAN):
            if not conn.busy:
                return conn
        return None

    def touch(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.move_to_end(conn)

    def forget(self, conn: Connection) -> None:
        self.connections.pop(conn, None)

    def sweep(self, now: float) -> int:
        """Close connections idle for longer than ``idle_timeout``; return how many."""
        expired = []
        for conn in self.connections:
            if now - conn.last_active < self.idle_timeout:
                break  # ordered by activity: the rest are younger
            expired.append(conn)
        for conn in expired:
            self.forget(conn)
            conn.close()
        return len(expired)

    def close_all(self) -> None:
        for conn in list(self.connections):
            self.forget(conn)
            conn.close()


class Connection(asyncio.Protocol):
    """One client connection; ``table`` is None when the codec names the table per query."""

    def __init__(self, hub: Hub, table: Table | None, codec: Codec) -> None:
        self.hub = hub
        self.table = table
        self.codec = codec
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.last_active = self.loop.time()
        self.busy = False  # replies waiting for a peer that does not read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        if not self.hub.admit(self):
            log.warning("connection_refused", reason="connection limit, none idle")
            transport.abort()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        self.hub.touch(self)
        events = self.codec.receive(data)
        if not events:
            return
        state = self.hub.runtime.state
        codec = self.codec
        out = []
        for event in events:
            if type(event) is Query:
                table = event.table or self.table
                assert table is not None
                out.append(codec.encode(tables.lookup(state, table, event.key)))
            else:
                assert isinstance(event, Malformed)
                log.info("bad_request", reason=event.reason, fatal=event.fatal)
                out.append(codec.encode(codec.malformed_answer(event)))
                if event.fatal:
                    self._write(b"".join(out))
                    self.close()
                    return
        self._write(b"".join(out))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # the client is done: close our side once replies are flushed

    def pause_writing(self) -> None:
        self.busy = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.busy = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.forget(self)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def factory(hub: Hub, table: Table | None, codec: Callable[[], Codec]) -> Callable[[], Connection]:
    def make() -> Connection:
        return Connection(hub, table, codec())

    return make


async def housekeeping(hub: Hub, interval: float = 1.0) -> None:
    """Every ``interval`` s: close idle connections, reload files that changed."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            closed = hub.sweep(loop.time())
            if closed:
                log.debug("idle_closed", connections=closed)
            hub.runtime.check_files()
        except Exception:  # housekeeping must go on whatever happens
            log.exception("housekeeping_failed")
