"""The ``/metrics`` endpoint: Prometheus text served on the daemon's own event loop.

Why the event loop and not prometheus-client's threaded server: the lookup counters are plain
integers written by the loop, and a scrape run on the loop reads them between two lookups,
so no lock is taken per lookup; there is no second thread to contend for the interpreter
while Postfix waits; and every resource a scraper can hold is bounded here, where the
library's server starts one thread per connection with no time limit. The loop serves each
lookup connection one bounded read per turn, so a scrape still gets its turn under a flood;
a reload is a short synchronous step, after which the scrape answers.

Bounds: at most ``MAX_SCRAPERS`` connections at once (more are closed at once); the request
head must arrive within ``TIMEOUT`` seconds and fit ``MAX_HEAD`` bytes; the reply must be
taken within ``TIMEOUT`` seconds; one request per connection. Only ``GET``/``HEAD``
``/metrics`` (404 for other paths, 405 for other methods). It listens on the one address
given (``inet:HOST:PORT``), nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

log = structlog.get_logger("pysrsd.metrics")
MAX_SCRAPERS = 4
MAX_HEAD = 8192
TIMEOUT = 5.0


def address(setting: str) -> tuple[str, int]:
    """``inet:HOST:PORT`` (HOST may be ``[v6]``) → (host, port)."""
    host, _, port = setting.partition(":")[2].rpartition(":")
    return (host[1:-1] if host.startswith("[") else host), int(port)


class Endpoint:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.active = 0

    async def listen(self, setting: str) -> asyncio.Server:
        host, port = address(setting)
        return await asyncio.start_server(
            self.handle, host, port, limit=MAX_HEAD, reuse_address=True
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active >= MAX_SCRAPERS:
            writer.transport.abort()
            return
        self.active += 1
        try:
            async with asyncio.timeout(TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                writer.write(self.respond(head))
                await writer.drain()
        except (TimeoutError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            writer.transport.abort()  # slow, over-long or truncated: nothing is owed
        except ConnectionError:
            pass
        finally:
            self.active -= 1
            writer.close()

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
