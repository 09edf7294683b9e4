"""A request the fast path answers is bookkept like any other: the connection keeps its place
among the idle ones (the longest idle is the one evicted at the limit), and a reply waiting
for the envelope database is not overtaken (replies leave in request order)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from unittest import mock

from harness import write_secrets

from pysrsd.config.settings import Settings
from pysrsd.policy.runtime import Runtime
from pysrsd.service.hub import Hub
from pysrsd.service.server import Connection
from pysrsd.wire.lookup import Table
from pysrsd.wire.tcp_table import TcpTableCodec

NOT_SRS = b"500 not%20an%20SRS%20address\n"


def transport() -> mock.Mock:
    t = mock.Mock()
    t.is_closing.return_value = False
    t.get_write_buffer_size.return_value = 0
    return t


def runtime(tmp_path: Path) -> Runtime:
    secrets = write_secrets(tmp_path / "secrets", "fast-path-server-secret")
    return Runtime(Settings(domain="fwd.example", secrets_file=secrets))


def test_a_fast_answer_moves_the_connection_to_the_back_of_the_idle_order(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        hub = Hub(runtime(tmp_path), 2, 300.0)
        first, second, third = (Connection(hub, Table.REVERSE, TcpTableCodec()) for _ in "abc")
        ends = [transport() for _ in "abc"]
        first.connection_made(ends[0])
        second.connection_made(ends[1])
        first.data_received(b"get rcpt@example.com\n")  # an ordinary recipient: fast path
        ends[0].write.assert_called_once_with(NOT_SRS)
        assert list(hub.idle) == [second, first]
        third.connection_made(ends[2])  # at the limit: the longest idle goes
        assert second not in hub.idle
        assert ends[1].close.called
        assert not ends[0].close.called

    asyncio.run(scenario())


def test_a_fast_answer_waits_behind_a_reply_awaiting_the_database(tmp_path: Path) -> None:
    async def scenario() -> None:
        hub = Hub(runtime(tmp_path), 10, 300.0)
        conn = Connection(hub, Table.REVERSE, TcpTableCodec())
        end = transport()
        conn.connection_made(end)
        gate = asyncio.get_running_loop().create_future()
        written: list[bytes] = []
        end.write.side_effect = written.append

        async def earlier() -> None:  # a reply still awaiting Redis
            await gate
            written.append(b"earlier\n")

        conn.pending = asyncio.ensure_future(earlier())
        conn.data_received(b"get rcpt@example.com\n")
        await asyncio.sleep(0)
        assert written == []  # not before the reply it follows
        gate.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
        assert written == [b"earlier\n", NOT_SRS]

    asyncio.run(scenario())
