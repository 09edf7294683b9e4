"""asyncio transport: moves bytes between sockets and codecs, nothing else.

data_received → codec.receive → tables.lookup (synchronous, microseconds) → codec.encode →
one write. Lookups that need a network database (Redis) return an awaitable instead: the
replies of that read, and of every later read on the connection, then leave from one task per
read, each awaiting the previous one, so replies still leave in request order; reading from
that connection pauses until they are written (Postfix waits for each reply anyway). The
synchronous path (no database, or SQLite) takes none of this.

Bounds (STYLE rule 7):
- request size: the codec's (tcp_table ``max_line``, socketmap 100,000 bytes);
- write buffer: above ``HIGH_WATER`` bytes unsent to a peer that does not read, we stop
  reading from it until the buffer drains below ``LOW_WATER`` (uvicorn flow_control);
- connections: at ``max_connections`` the longest-idle connection (least recently active,
  nothing left to send) is closed to admit the newcomer; Postfix reconnects by itself. Only
  when every connection has replies pending is the newcomer closed;
- idle time: connections quiet for ``idle_timeout`` seconds are closed (Postfix never hangs up);
- work per turn of the event loop: one read of at most ``READ_SIZE`` bytes (after a full
  read, reading pauses until the next turn, whatever the loop), so a client that pipelines
  megabytes cannot stall the others, and the replies to one read (at most ~20 bytes
  per input byte, for empty lines) stay a small multiple of ``HIGH_WATER``;
- log lines: a connection's first malformed request is logged at info, the rest at debug and
  as one count when it closes (a stream of empty lines must not become a stream of log lines).

A connection dropped by the daemon (eviction, idle timeout) that still has unsent replies is
aborted, not closed: its peer is not reading, and a graceful close would hold the descriptor
until the peer reads, which it may never do.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import cast

import structlog

from pysrsd import tables
from pysrsd.lookup import Answer, Codec, Malformed, Query, Table
from pysrsd.state import Runtime, State

log = structlog.get_logger("pysrsd.server")
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024
READ_SIZE = 4096
QUIET = 1.0  # seconds without a request after which a reply is surely read (shutdown)
Lookup = Callable[[State, Table, bytes], Answer | Awaitable[Answer]]


class Hub:
    """The live connections of every listener.

    ``idle`` holds the connections that may be evicted, least recently active first;
    ``busy`` holds those whose peer is not reading its replies (writing paused). Keeping them
    apart makes eviction O(1) and means a few stalled peers cannot hide the idle ones.
    """

    def __init__(self, runtime: Runtime, max_connections: int, idle_timeout: float) -> None:
        self.runtime = runtime
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.idle: OrderedDict[Connection, None] = OrderedDict()
        self.busy: dict[Connection, None] = {}
        self.closing: set[Connection] = set()  # closed by close_all, replies still flushing
        self.accepted = 0
        self.refused = 0
        self.evicted = 0
        self.read_buffer = memoryview(bytearray(READ_SIZE))  # shared: copied out at once

    def __len__(self) -> int:
        return len(self.idle) + len(self.busy)

    def admit(self, conn: Connection) -> bool:
        if len(self) >= self.max_connections:
            if not self.idle:
                self.refused += 1
                return False
            victim = next(iter(self.idle))
            self.evicted += 1
            self.drop(victim)
        self.idle[conn] = None
        self.accepted += 1
        return True

    def touch(self, conn: Connection) -> None:
        if conn in self.idle:
            self.idle.move_to_end(conn)

    def set_busy(self, conn: Connection, busy: bool) -> None:
        source, target = (self.idle, self.busy) if busy else (self.busy, self.idle)
        if conn in source:
            del source[conn]
            target[conn] = None

    def forget(self, conn: Connection) -> None:
        self.idle.pop(conn, None)
        self.busy.pop(conn, None)
        self.closing.discard(conn)

    def drop(self, conn: Connection) -> None:
        """Close a connection the daemon gives up on (evicted or timed out)."""
        self.forget(conn)
        conn.abandon()

    def sweep(self, now: float) -> int:
        """Close connections idle for longer than ``idle_timeout``; return how many."""
        expired = []
        for conn in self.idle:
            if now - conn.last_active < self.idle_timeout:
                break  # ordered by activity: the rest are younger
            expired.append(conn)
        expired += [c for c in self.busy if now - c.last_active >= self.idle_timeout]
        for conn in expired:
            self.drop(conn)
        return len(expired)

    def close_all(self) -> None:
        """Stop answering everywhere: replies already produced are flushed, then each closes."""
        for conn in [*self.idle, *self.busy]:
            self.forget(conn)
            self.closing.add(conn)
            conn.finish()


class Connection(asyncio.BufferedProtocol):
    """One client connection; ``table`` is None when the codec names the table per query.

    A BufferedProtocol so that the daemon, not asyncio (256 KiB), chooses how much is read at
    once: ``READ_SIZE`` bounds both the work done per turn of the loop and the reply burst.
    """

    def __init__(
        self, hub: Hub, table: Table | None, codec: Codec, lookup: Lookup = tables.lookup
    ) -> None:
        self.hub = hub
        self.table = table
        self.codec = codec
        self.lookup = lookup  # tables.lookup, or the same counted by metrics
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.last_active = self.loop.time()
        self.malformed = 0
        self.finishing = False  # stopping: flush, send FIN, discard what still arrives
        self.writing_paused = False  # the peer does not read its replies: nor do we read
        self.pending: asyncio.Task[None] | None = None  # replies awaiting a network database

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed: uvloop's transports do the same work without subclassing asyncio's.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        if not self.hub.admit(self):
            log.warning("connection_refused", reason="connection limit, none idle")
            transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.hub.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.hub.read_buffer[:nbytes]))
        if nbytes == READ_SIZE and not self.writing_paused:
            # More may be waiting: let every other connection have its turn first (uvloop
            # would otherwise read from the same socket up to 32 times in a row).
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.pause_reading()
                self.loop.call_soon(self._read_again)

    def _read_again(self) -> None:
        transport = self.transport
        paused = self.writing_paused or self.pending is not None
        if transport is not None and not transport.is_closing() and not paused:
            transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.finishing:
            return  # arrived after the daemon stopped answering: Postfix will retry it
        self.last_active = self.loop.time()
        self.hub.touch(self)
        events = self.codec.receive(data)
        if len(events) == 1 and type(query := events[0]) is Query and not self.pending:
            table = query.table or self.table  # Postfix: one query per read
            assert table is not None
            answer = self.lookup(self.hub.runtime.state, table, query.key)
            if isinstance(answer, Answer):
                self._write(self.codec.encode(answer))
            else:
                self._defer([asyncio.ensure_future(answer)], False)
            return
        if not events:
            return
        state = self.hub.runtime.state
        codec = self.codec
        out: list[bytes | asyncio.Future[Answer]] = []
        deferred = self.pending is not None
        fatal = False
        for event in events:
            if type(event) is Query:
                table = event.table or self.table
                assert table is not None
                answer = self.lookup(state, table, event.key)
                if isinstance(answer, Answer):
                    out.append(codec.encode(answer))
                else:
                    out.append(asyncio.ensure_future(answer))
                    deferred = True
            else:
                assert isinstance(event, Malformed)
                self._log_malformed(event)
                out.append(codec.encode(codec.malformed_answer(event)))
                if event.fatal:
                    fatal = True
                    break
        if deferred:
            self._defer(out, fatal)
            return
        self._write(b"".join(out))  # type: ignore[arg-type]  # no futures when not deferred
        if fatal:
            self.close()

    def _defer(self, out: list[bytes | asyncio.Future[Answer]], fatal: bool) -> None:
        """Write ``out`` in order once its answers are known and the earlier replies sent."""
        self.pending = self.loop.create_task(self._send_in_order(self.pending, out, fatal))
        if self.transport is not None:
            self.transport.pause_reading()

    async def _send_in_order(
        self,
        previous: asyncio.Task[None] | None,
        out: list[bytes | asyncio.Future[Answer]],
        fatal: bool,
    ) -> None:
        if previous is not None:
            await previous
        for item in out:
            self._write(item if isinstance(item, bytes) else self.codec.encode(await item))
        if fatal:
            self.close()
        if self.pending is asyncio.current_task():
            self.pending = None
            transport = self.transport
            paused = self.writing_paused or self.finishing  # resume_writing resumes it
            if transport and not transport.is_closing() and not paused:
                transport.resume_reading()

    def _log_malformed(self, event: Malformed) -> None:
        self.malformed += 1
        emit = log.info if self.malformed == 1 else log.debug
        emit("bad_request", reason=event.reason, fatal=event.fatal)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # the client is done: close our side once replies are flushed

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.hub.set_busy(self, True)
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.last_active = self.loop.time()
        self.hub.set_busy(self, False)
        if self.transport is not None and not self.transport.is_closing() and not self.pending:
            self.transport.resume_reading()

    def finish(self) -> None:
        """Lingering close, for shutdown: the replies already written are flushed and followed
        by a FIN, and input is read and discarded until the peer closes. Closing at once with
        unread input would send a RST, which makes the peer's kernel drop replies it has
        received but the client has not read yet."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.finishing = True
        if self.pending is not None:  # answers awaiting the database go out first
            self.pending.add_done_callback(lambda _task: self.finish())
            return
        quiet = self.loop.time() - self.last_active > QUIET
        if (quiet and not transport.get_write_buffer_size()) or not transport.can_write_eof():
            # Postfix reads each reply before it asks again: a connection quiet for a while
            # has nothing in flight, and lingering would only delay the exit.
            transport.close()
            return
        transport.write_eof()  # sent once the buffer is flushed
        transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.forget(self)
        if self.malformed > 1:
            log.info("bad_requests", count=self.malformed)

    def close(self) -> None:
        """Close after the replies already written are flushed."""
        if self.transport is not None:
            self.transport.close()

    def abandon(self) -> None:
        """Close now if replies are still unsent: the peer is not reading them."""
        if self.transport is None:
            return
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()


def factory(
    hub: Hub, table: Table | None, codec: Callable[[], Codec], lookup: Lookup = tables.lookup
) -> Callable[[], Connection]:
    def make() -> Connection:
        return Connection(hub, table, codec(), lookup)

    return make


async def housekeeping(hub: Hub, interval: float = 1.0) -> None:
    """Every ``interval`` s: close idle connections, reload files that changed, purge."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            closed = hub.sweep(loop.time())
            if closed:
                log.debug("idle_closed", connections=closed)
            hub.runtime.check_files()
            tables.REFUSALS.flush()  # the summary of a flood that has stopped
            if hub.runtime.envelopes is not None:
                hub.runtime.envelopes.tick(loop.time())  # purges expired SQLite rows
        except Exception:  # housekeeping must go on whatever happens
            log.exception("housekeeping_failed")
