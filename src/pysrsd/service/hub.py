"""The live connections of every listener: admission, eviction, idle sweep, and the queue of
connections that wait for their next turn.

Contract:
- ``idle`` holds the connections that behave like Postfix's (one request, read the reply, ask
  again), least recently active first; ``suspect`` holds those that once did not: the peer
  stopped reading its replies, pipelined more requests than one turn answers, or was given up
  on after malformed requests. A connection never leaves ``suspect``: Postfix does none of
  these things, so a peer that did is not Postfix. Keeping the two apart makes eviction O(1),
  and a crowd of suspects can neither hide the idle connections nor push them out.
- At ``max_connections`` a newcomer is admitted by closing the oldest suspect, or else the
  longest-idle connection (Postfix reconnects by itself); only when there is neither is it
  refused.
- ``later(conn)`` queues a connection that has more to do (requests the codec held back, or a
  full read that may have more behind it); each turn of the event loop, ``TURN_CONNECTIONS``
  of them are served, round robin. However many peers pipeline, one turn of the loop stays
  short, so lookups from Postfix (one request per read, answered at once) and the accepting of
  new connections (uvloop accepts one per turn of a busy loop) keep their pace.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Protocol

from pysrsd.policy.runtime import Runtime

READ_SIZE = 4096
TURN_CONNECTIONS = 8  # queued connections served per turn of the event loop


class Connection(Protocol):
    """What the hub asks of a connection (``server.Connection`` is one)."""

    @property
    def last_active(self) -> float:
        """The loop time of its last request."""
        ...

    def carry_on(self) -> None:
        """Its turn has come: answer what it holds back, or read again."""
        ...

    def finish(self) -> None:
        """Stop answering: flush the replies written, then close (shutdown)."""
        ...

    def abandon(self) -> None:
        """Close now, whether or not its peer has read its replies."""
        ...


class Hub:
    def __init__(self, runtime: Runtime, max_connections: int, idle_timeout: float) -> None:
        self.runtime = runtime
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.idle: OrderedDict[Connection, None] = OrderedDict()
        self.suspect: dict[Connection, None] = {}
        self.closing: set[Connection] = set()  # closed by close_all, replies still flushing
        self.waiting: deque[Connection] = deque()  # served TURN_CONNECTIONS per turn
        self._serving = False  # a call to _serve is scheduled
        self.accepted = 0
        self.refused = 0
        self.evicted = 0
        self.read_buffer = memoryview(bytearray(READ_SIZE))  # shared: copied out at once

    def __len__(self) -> int:
        return len(self.idle) + len(self.suspect)

    def admit(self, conn: Connection) -> bool:
        if len(self) >= self.max_connections:
            if self.suspect:
                victim = next(iter(self.suspect))
            elif self.idle:
                victim = next(iter(self.idle))
            else:
                self.refused += 1
                return False
            self.evicted += 1
            self.drop(victim)
        self.idle[conn] = None
        self.accepted += 1
        return True

    def touch(self, conn: Connection) -> None:
        if conn in self.idle:
            self.idle.move_to_end(conn)

    def suspect_of(self, conn: Connection) -> None:
        """``conn`` did what Postfix never does: it goes first at the limit, from now on."""
        if conn in self.idle:
            del self.idle[conn]
            self.suspect[conn] = None

    def later(self, conn: Connection) -> None:
        """Give ``conn`` another turn once those queued before it have had theirs."""
        self.waiting.append(conn)
        if not self._serving:
            self._serving = True
            asyncio.get_running_loop().call_soon(self._serve)

    def _serve(self) -> None:
        for _ in range(min(len(self.waiting), TURN_CONNECTIONS)):
            self.waiting.popleft().carry_on()  # may queue itself again, at the back
        if self.waiting:
            asyncio.get_running_loop().call_soon(self._serve)
        else:
            self._serving = False

    def forget(self, conn: Connection) -> None:
        self.idle.pop(conn, None)
        self.suspect.pop(conn, None)
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
        expired += [c for c in self.suspect if now - c.last_active >= self.idle_timeout]
        for conn in expired:
            self.drop(conn)
        return len(expired)

    def close_all(self) -> None:
        """Stop answering everywhere: replies already produced are flushed, then each closes."""
        for conn in [*self.idle, *self.suspect]:
            self.forget(conn)
            self.closing.add(conn)
            conn.finish()
