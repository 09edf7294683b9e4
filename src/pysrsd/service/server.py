"""asyncio transport: moves bytes between sockets and codecs, nothing else.

data_received → codec.receive → tables.lookup (synchronous, microseconds) → codec.encode →
one write. What Postfix sends (one whole request per read) first tries the fast path:
codec.simple → policy.fast → codec.encode_value, the same answer in a fraction of the time,
or nothing and the path above. Lookups that wait for the envelope database (a row to
commit, a Redis read) return an awaitable instead: the replies of that read, and of every
later read on the connection, then leave from one task per read (or a callback, for a single
future), each awaiting the previous one, so replies still leave in request order; reading
from that connection pauses until they are written (Postfix waits for each reply anyway).
The synchronous path (no database, or an SQLite read) takes none of this.

Bounds (STYLE rule 7):
- request size: the codec's (tcp_table ``max_line``, socketmap 100,000 bytes);
- write buffer: while any reply is unsent (the kernel's send buffer, kept small by the
  daemon, is full), we neither read from that peer nor answer what it already sent, until the
  buffer has drained (uvicorn flow_control, with a high-water mark of 0). Postfix reads every
  reply before it asks again, so it never gets here; a peer that does not read stops costing
  CPU after a few kilobytes;
- connections: ``max_connections``, with eviction of stalled, pipelining, then idle peers
  (``hub``);
- idle time: connections quiet for ``idle_timeout`` seconds are closed (Postfix never hangs up);
- work per turn of the event loop: one read of at most ``READ_SIZE`` bytes answers at most
  ``EVENTS_PER_TURN`` requests (the codec holds the rest, reading pauses); a connection with
  more to do waits in the hub's queue, of which a fixed number are served per turn, so a
  thousand clients that pipeline cannot stall Postfix's lookups or the accepting of its
  connections. A stream of ``MAX_BAD`` malformed requests in a row is answered and closed;
- a connection given up on (``MAX_BAD`` malformed requests in a row, a broken netstring) gets
  its replies and a FIN, and is dropped ``GRACE`` seconds later whether its peer read or not;
- log lines: a connection's first malformed request is logged at info, the rest at debug and
  as one count when it closes (a stream of empty lines must not become a stream of log lines).

A connection dropped by the daemon (eviction, idle timeout) that still has unsent replies is
aborted, not closed: its peer is not reading, and a graceful close would hold the descriptor
until the peer reads, which it may never do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import structlog

from pysrsd.policy import fast, tables
from pysrsd.policy.state import State
from pysrsd.service.hub import READ_SIZE, Hub
from pysrsd.wire.lookup import Answer, Codec, Malformed, Query, Table

log = structlog.get_logger("pysrsd.server")
HIGH_WATER = 0  # pause reading as soon as a reply cannot be handed to the kernel at once
EVENTS_PER_TURN = 4  # requests answered per connection per turn of the event loop
GRACE = 1.0  # seconds a connection given up on has to read its last replies
SEND_BUFFER = 16 * 1024  # SO_SNDBUF of the listeners (the kernel doubles it); replies ≤ 4 KiB
QUIET = 1.0  # seconds without a request after which a reply is surely read (shutdown)
Lookup = Callable[[State, Table, bytes], Answer | Awaitable[Answer]]


class Connection(asyncio.BufferedProtocol):
    """One client connection; ``table`` is None when the codec names the table per query.

    A BufferedProtocol so that the daemon, not asyncio (256 KiB), chooses how much is read at
    once: ``READ_SIZE`` bounds both the work done per turn of the loop and the reply burst.
    """

    def __init__(
        self,
        hub: Hub,
        table: Table | None,
        codec: Codec,
        lookup: Lookup = tables.lookup,
        fast_lookup: fast.Lookup = fast.lookup,
    ) -> None:
        self.hub = hub
        self.table = table
        self.codec = codec
        self.lookup = lookup  # tables.lookup, or the same counted by metrics
        self.fast_lookup = fast_lookup  # fast.lookup, or the same counted by metrics
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.last_active = self.loop.time()
        self.malformed = 0
        self.finishing = False  # stopping: flush, send FIN, discard what still arrives
        self.writing_paused = False  # the peer does not read its replies: nor do we read
        self.pending: asyncio.Future[Any] | None = None  # replies awaiting the database
        self.queued = False  # waiting in the hub for another turn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed: uvloop's transports do the same work without subclassing asyncio's.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=HIGH_WATER, low=0)
        if not self.hub.admit(self):
            log.warning("connection_refused", reason="connection limit, none to evict")
            transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.hub.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.hub.read_buffer[:nbytes]))
        if nbytes == READ_SIZE or self.codec.more:
            self._next_turn()

    def _next_turn(self) -> None:
        """More may be waiting, in the socket or in the codec: queue for another turn behind
        the other connections (uvloop would otherwise read from one socket up to 32 times in
        a row). Requests held in the codec mean the peer pipelines, which Postfix never does:
        until they are answered, the connection is among the first to go at the limit."""
        transport = self.transport
        if self.codec.more:
            self.hub.suspect_of(self)
        if transport is not None and not transport.is_closing() and not self.writing_paused:
            transport.pause_reading()
            if not self.queued:
                self.queued = True
                self.hub.later(self)

    def carry_on(self) -> None:
        """Carry on with this connection, unless its peer is not reading or replies await the
        database: answer what the codec holds back, or else read again."""
        self.queued = False
        transport = self.transport
        paused = self.writing_paused or self.pending is not None or self.finishing
        if transport is None or transport.is_closing() or paused:
            return
        if self.codec.more:
            self.data_received(b"")
            if self.codec.more:
                self._next_turn()
                return
        if not (self.writing_paused or self.pending is not None):
            transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        """The fast path first: one whole request in one read (as Postfix sends them), a key
        the codec takes whole, and a lookup ``policy.fast`` answers (or ``metrics`` counts
        as it). Everything else, and whatever fails on the way, takes the general path.
        Deliberately one flat function: each call saved is a tenth of a microsecond on every
        lookup, and the whole of it is checked against the general path by a property test."""
        fast = self.hub.runtime.state.fast
        if fast is not None and self.pending is None and not self.finishing:
            codec = self.codec
            reply = None
            try:
                query = codec.simple(data)
                if query is not None:
                    table = query[0] or self.table
                    assert table is not None
                    result = self.fast_lookup(fast, table, query[1])
                    if type(result) is bytes:
                        reply = codec.encode_value(result)
                    elif isinstance(result, Answer):
                        reply = codec.encode(result)
            except Exception:  # the general path answers, and logs the fault if it has one
                reply = None
            if reply is not None:
                self.last_active = self.loop.time()
                self.hub.touch(self)
                transport = self.transport
                if transport is not None and not transport.is_closing():
                    transport.write(reply)
                return
        self._general(data)

    def _general(self, data: bytes) -> None:
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
            elif isinstance(answer, asyncio.Future):
                self._await_one(answer)
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
            self.give_up()

    def _await_one(self, answer: asyncio.Future[Answer]) -> None:
        """As ``_defer`` for one answer that is a future (a row to commit), without a task."""
        self.pending = answer
        answer.add_done_callback(self._answered)
        if self.transport is not None:
            self.transport.pause_reading()

    def _answered(self, answer: asyncio.Future[Answer]) -> None:
        if not answer.cancelled():
            self._write(self.codec.encode(answer.result()))
        if self.pending is answer:
            self.pending = None
            self.carry_on()

    def _defer(self, out: list[bytes | asyncio.Future[Answer]], fatal: bool) -> None:
        """Write ``out`` in order once its answers are known and the earlier replies sent."""
        self.pending = self.loop.create_task(self._send_in_order(self.pending, out, fatal))
        if self.transport is not None:
            self.transport.pause_reading()

    async def _send_in_order(
        self,
        previous: asyncio.Future[Any] | None,
        out: list[bytes | asyncio.Future[Answer]],
        fatal: bool,
    ) -> None:
        if previous is not None:
            await previous
        for item in out:
            self._write(item if isinstance(item, bytes) else self.codec.encode(await item))
        if fatal:
            self.give_up()
        if self.pending is asyncio.current_task():
            self.pending = None
            self.carry_on()  # if the peer is not reading, resume_writing does it

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
        self.hub.suspect_of(self)
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.last_active = self.loop.time()
        self.carry_on()

    def finish(self) -> None:
        """Lingering close, for shutdown: the replies already written are flushed and followed
        by a FIN, and input is read and discarded until the peer closes. Closing at once with
        unread input would send a RST, which makes the peer's kernel drop replies it has
        received but the client has not read yet."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        while self.codec.more:  # read before the stop: answered too
            self.data_received(b"")
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

    def give_up(self) -> None:
        """After the reply to a fatal request: the replies written so far are followed by a
        FIN, nothing more is read, and the connection is dropped ``GRACE`` seconds later.
        Closing at once with unread input would send a RST, which destroys the replies the
        client has not read yet; reading on until the peer closes would let it keep us busy."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.finishing = True
        self.hub.suspect_of(self)
        log.info("connection_given_up", bad_requests=self.malformed)
        self.malformed = 0  # said: connection_lost need not say it again
        transport.pause_reading()
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(GRACE, self.abandon)

    def abandon(self) -> None:
        """Close now if replies are still unsent: the peer is not reading them."""
        if self.transport is None:
            return
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()


def factory(
    hub: Hub,
    table: Table | None,
    codec: Callable[[], Codec],
    lookup: Lookup = tables.lookup,
    fast_lookup: fast.Lookup = fast.lookup,
) -> Callable[[], Connection]:
    def make() -> Connection:
        return Connection(hub, table, codec(), lookup, fast_lookup)

    return make
