"""The ``/metrics`` endpoint: Prometheus text served on the daemon's own event loop.

Why the event loop and not prometheus-client's threaded server: the lookup counters are plain
integers written by the loop, and a scrape run on the loop reads them between two lookups,
so no lock is taken per lookup; there is no second thread to contend for the interpreter
while Postfix waits; and every resource a scraper can hold is bounded here, where the
library's server starts one thread per connection with no time limit. The loop serves each
lookup connection one bounded read per turn, so a scrape still gets its turn under a flood;
a reload is a short synchronous step, after which the scrape answers.

Bounds: a connection waits in one of three queues, each bounded, the oldest pushed out when a
newcomer needs its place. Until its first bytes arrive, in ``unread`` (``MAX_UNREAD``); a
head that then arrives whole is answered at once (Prometheus and curl send it with the
connection), so no crowd of slow clients stands between a scraper and its answer. A head
that arrives in part waits in ``heads`` (``MAX_SCRAPERS`` together with ``replies``, the
answers whose peer has not taken them yet); there, a newcomer evicts the oldest unfinished
head first. So clients that send an unfinished head and come back only push each other out.
The head must be whole within ``HEAD_TIMEOUT`` seconds and fit ``MAX_HEAD`` bytes; the reply
must be taken within ``REPLY_TIMEOUT`` seconds; one request per connection. Only
``GET``/``HEAD`` ``/metrics`` (404 for other paths, 405 for other methods). It listens on the
one address given (``inet:HOST:PORT``), nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import cast

import structlog
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

log = structlog.get_logger("pysrsd.metrics")
MAX_UNREAD = 16  # connections that have sent nothing yet
MAX_SCRAPERS = 4  # unfinished heads and replies not yet taken, together
MAX_HEAD = 8192
HEAD_TIMEOUT = 1.0  # a scraper sends its head with the connection: a second is generous
REPLY_TIMEOUT = 5.0
Queue = OrderedDict["Scrape", None]  # oldest first


def address(setting: str) -> tuple[str, int]:
    """``inet:HOST:PORT`` (HOST may be ``[v6]``) → (host, port)."""
    host, _, port = setting.partition(":")[2].rpartition(":")
    return (host[1:-1] if host.startswith("[") else host), int(port)


class Endpoint:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.unread: Queue = OrderedDict()
        self.heads: Queue = OrderedDict()
        self.replies: Queue = OrderedDict()

    async def listen(self, setting: str) -> asyncio.Server:
        host, port = address(setting)
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: Scrape(self), host, port, reuse_address=True)

    def arrived(self, scrape: Scrape) -> None:
        if len(self.unread) >= MAX_UNREAD:
            next(iter(self.unread)).abort()
        self.unread[scrape] = None

    def waits(self, scrape: Scrape, queue: Queue) -> None:
        """``scrape`` sent part of a head (``heads``) or has a reply to take (``replies``)."""
        self.unread.pop(scrape, None)
        self.heads.pop(scrape, None)
        if len(self.heads) + len(self.replies) >= MAX_SCRAPERS:
            next(iter(self.heads or self.replies)).abort()
        queue[scrape] = None

    def forget(self, scrape: Scrape) -> None:
        for queue in (self.unread, self.heads, self.replies):
            queue.pop(scrape, None)

    def respond(self, head: bytes) -> bytes:
        request, *fields = head.decode("latin-1").split("\r\n")
        method, _, rest = request.partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if path != "/metrics":
            return _reply("404 Not Found", b"only /metrics is served\n")
        if method not in ("GET", "HEAD"):
            return _reply("405 Method Not Allowed", b"GET or HEAD\n")
        accept = ""
        for field in fields:
            name, _, value = field.partition(":")
            if name.strip().lower() == "accept":
                accept = value.strip()
        encoder, content_type = choose_encoder(accept)
        try:
            body = encoder(self.registry)
        except Exception:  # a scrape must never take the daemon down
            log.exception("metrics_failed")
            return _reply("500 Internal Server Error", b"collecting metrics failed\n")
        return _reply("200 OK", b"" if method == "HEAD" else body, content_type, len(body))


class Scrape(asyncio.Protocol):
    """One scraper's connection: its head is gathered as it arrives and answered at once."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.head = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.endpoint.arrived(self)
        self.timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, self.abort)

    def data_received(self, data: bytes) -> None:
        if self.done:
            return  # one request per connection: what follows is not read
        first = not self.head
        self.head += data
        end = self.head.find(b"\r\n\r\n", 0, MAX_HEAD)  # a longer head is not served
        if end >= 0:
            self._answer(bytes(self.head[: end + 4]))
        elif len(self.head) >= MAX_HEAD:
            self.abort()  # over-long: nothing is owed
        elif first:
            self.endpoint.waits(self, self.endpoint.heads)

    def _answer(self, head: bytes) -> None:
        self.done = True
        self._cancel_timer()
        transport = self.transport
        assert transport is not None
        transport.write(self.endpoint.respond(head))
        transport.close()  # once the reply is flushed
        if transport.get_write_buffer_size():  # the peer has yet to take it
            self.endpoint.waits(self, self.endpoint.replies)
            self.timer = asyncio.get_running_loop().call_later(REPLY_TIMEOUT, self.abort)
        else:
            self.endpoint.forget(self)

    def eof_received(self) -> bool:
        if not self.done:
            self.abort()  # truncated head: nothing is owed
        return True  # keep the transport to flush a reply under way

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self.endpoint.forget(self)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def abort(self) -> None:
        """Drop the connection now (slow, over-long, truncated, or pushed out)."""
        self.endpoint.forget(self)
        if self.transport is not None:
            self.transport.abort()


def _reply(
    status: str, body: bytes, content_type: str = "text/plain", length: int | None = None
) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def close(server: asyncio.Server) -> None:
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 1.0)
