"""The /metrics endpoint on loopback, in-process: slow clients cannot keep a scraper out."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry, Counter

from pysrsd.observe.metrics_http import MAX_HEAD, MAX_SCRAPERS, Endpoint

Served = Callable[[Callable[[int], Awaitable[None]]], None]
UNFINISHED = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: never complete


@contextlib.asynccontextmanager
async def endpoint() -> AsyncIterator[int]:
    registry = CollectorRegistry()
    Counter("probe", "A series the scrape must show.", registry=registry).inc()
    server = await Endpoint(registry).listen("inet:127.0.0.1:0")
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.fixture(params=["asyncio", "uvloop"])
def served(request: pytest.FixtureRequest) -> Served:
    """``served(test)`` runs ``test(port)`` beside a fresh endpoint, on each event loop the
    daemon can run on."""
    factory = None
    if request.param == "uvloop":
        factory = pytest.importorskip("uvloop", reason="the speed extra").new_event_loop

    def run(test: Callable[[int], Awaitable[None]]) -> None:
        async def main() -> None:
            async with endpoint() as port:
                await test(port)

        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())

    return run


def scrape(port: int) -> str:
    """What Prometheus or curl does: one GET, the body read to the end."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        return str(reply.read().decode())


async def slow_client(port: int, stop: asyncio.Event, connections: list[int]) -> None:
    """Sends an unfinished request head and comes back as soon as it is closed."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            continue
        connections[0] += 1
        try:
            writer.write(UNFINISHED)
            with contextlib.suppress(OSError):
                await reader.read()  # until the endpoint drops it
        finally:
            writer.transport.abort()


def test_slow_clients_that_keep_coming_do_not_keep_a_scraper_out(served: Served) -> None:
    """Eight clients held all four slots with unfinished heads, reconnecting when closed:
    no scrape was answered. Each newcomer now evicts the oldest unfinished head."""
    answered: list[bool] = []

    async def test(port: int) -> None:
        stop, connections = asyncio.Event(), [0]
        crowd = [asyncio.create_task(slow_client(port, stop, connections)) for _ in range(8)]
        while connections[0] < 2 * MAX_SCRAPERS:
            await asyncio.sleep(0.01)  # every slot is held by a slow client
        for _ in range(35):
            try:
                answered.append("probe_total 1.0" in await asyncio.to_thread(scrape, port))
            except OSError:
                answered.append(False)
        stop.set()
        for task in crowd:
            task.cancel()
        await asyncio.gather(*crowd, return_exceptions=True)

    served(test)
    assert answered == [True] * 35


def test_an_unfinished_head_is_dropped_after_a_short_wait(served: Served) -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(UNFINISHED)
        try:  # well within the old 5-second timeout; a generous bound, not a measurement
            assert await asyncio.wait_for(reader.read(), 4.0) == b""
        except ConnectionResetError:
            pass  # dropped with a reset: nothing is owed to it
        finally:
            writer.transport.abort()

    served(test)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /metrics HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK", id="get"),
        pytest.param(b"HEAD /metrics HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK", id="head"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 Not Found", id="other-path"),
        pytest.param(b"POST /metrics HTTP/1.1\r\n\r\n", b"HTTP/1.1 405 Method", id="post"),
    ],
)
def test_a_head_in_pieces_is_answered_as_one_sent_whole(
    served: Served, request_bytes: bytes, status: bytes
) -> None:
    replies: list[bytes] = []

    async def test(port: int) -> None:
        for pieces in ([request_bytes], [bytes([b]) for b in request_bytes]):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
            replies.append(await asyncio.wait_for(reader.read(), 10))
            writer.close()

    served(test)
    assert replies[0].startswith(status)
    assert replies[0] == replies[1]


def test_an_over_long_head_gets_nothing(served: Served) -> None:
    received: list[bytes] = []

    async def test(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            with contextlib.suppress(OSError):  # the endpoint may reset while we still send
                sock.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n")
            try:
                received.append(await asyncio.to_thread(sock.recv, 4096))
            except ConnectionResetError:
                received.append(b"")

    served(test)
    assert received == [b""]
