"""Hostile and broken clients. Each returns how many of its own checks failed (answers that the
contract promises but did not come, or came wrong); the load running beside them is what
shows that they did not disturb anyone else."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from reliability.client import Tally
from reliability.oracle import parse_reply, srs0

TOO_LONG = b"500 request%20too%20long\n"


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)


async def byte_at_a_time(port: int, tally: Tally, rounds: int) -> None:
    """A reverse lookup dribbled one byte per write; the answer must still be right."""
    for i in range(rounds):
        address = f"dribble{i}@slow.example".encode()
        reader, writer = await _open(port)
        for b in b"get " + srs0(address, time.time()) + b"\n":
            writer.write(bytes((b,)))
            await writer.drain()
            await asyncio.sleep(0.001)
        line = await asyncio.wait_for(reader.readline(), 10)
        if parse_reply(line.rstrip(b"\n")) == (200, address):
            tally.lookups += 1
        else:
            tally.wrong += 1
            tally.examples.append(f"byte-at-a-time {address!r} -> {line!r}")
        writer.close()


async def never_reads(port: int, seconds: float) -> None:
    """Pipelines requests and never reads a reply; the daemon must stop reading from it."""
    with contextlib.suppress(OSError, TimeoutError):
        _reader, writer = await _open(port)
        writer.write(b"get someone@example.com\n" * 200_000)
        await asyncio.sleep(seconds)
        writer.transport.abort()


async def no_newline(port: int, tally: Tally, megabytes: int) -> None:
    """Megabytes without a newline: one '500 request too long', then the connection works."""
    reader, writer = await _open(port)
    chunk = b"x" * 65536
    for _ in range(megabytes * 16):
        writer.write(chunk)
        await writer.drain()
    writer.write(b"\nget user@example.com\n")
    first = await asyncio.wait_for(reader.readline(), 10)
    second = await asyncio.wait_for(reader.readline(), 10)
    if first == TOO_LONG and second.startswith(b"200 SRS0="):
        tally.lookups += 1
    else:
        tally.wrong += 1
        tally.examples.append(f"no-newline -> {first!r} {second!r}")
    writer.close()


async def disconnect_mid_request(port: int, rounds: int) -> None:
    for i in range(rounds):
        with contextlib.suppress(OSError, TimeoutError):
            _reader, writer = await _open(port)
            writer.write(b"get half-a-request-" + str(i).encode())
            await asyncio.sleep(0.001)
            if i % 2:
                writer.transport.abort()  # RST
            else:
                writer.close()  # FIN


async def random_bytes(port: int, tally: Tally, rounds: int, seed: int) -> None:
    """Random bytes, then a valid request: every reply is a well-formed line, in order."""
    rng = random.Random(seed)
    for _ in range(rounds):
        junk = rng.randbytes(rng.randint(1, 4096)).replace(b"\n", b"")  # one line of junk
        reader, writer = await _open(port)
        writer.write(junk + b"\nget r@random.example\n")
        lines = [await asyncio.wait_for(reader.readline(), 10) for _ in range(2)]
        first, second = (parse_reply(x.rstrip(b"\n")) for x in lines)
        if first[0] in (200, 500) and second[0] == 200 and lines[1].startswith(b"200 SRS0="):
            tally.lookups += 1
        else:
            tally.wrong += 1
            tally.examples.append(f"random bytes -> {lines!r}")
        writer.close()
