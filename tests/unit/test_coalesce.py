"""Coalesced WebSocket writes: one socket write per loop iteration, nothing lost or reordered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sensorhub.live.coalesce import CoalescingTransport


@pytest.fixture
async def pair() -> AsyncIterator[tuple[asyncio.Transport, asyncio.StreamReader]]:
    """A real loopback connection: (the server side's transport, the client's reader)."""
    accepted: asyncio.Future[asyncio.Transport] = asyncio.get_running_loop().create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            accepted.set_result(transport)

    server = await asyncio.get_running_loop().create_server(Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    transport = await accepted
    yield transport, reader
    writer.close()
    server.close()
    await server.wait_closed()


async def test_writes_of_one_iteration_leave_in_one_write_in_order(
    pair: tuple[asyncio.Transport, asyncio.StreamReader],
) -> None:
    transport, reader = pair
    writes: list[bytes] = []
    write = transport.write

    def counting(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        write(data)

    transport.write = counting  # type: ignore[method-assign]
    coalescing = CoalescingTransport(transport)
    for n in range(100):
        coalescing.write(b"%03d," % n)
    assert writes == [] and coalescing.get_write_buffer_size() == 400
    await asyncio.sleep(0)  # the end of this iteration
    assert len(writes) == 1
    coalescing.write(b"tail")
    coalescing.close()  # flushes first
    expected = b"".join(b"%03d," % n for n in range(100)) + b"tail"
    assert await reader.readexactly(len(expected)) == expected
    assert await reader.read() == b""  # then closed
    assert len(writes) == 2
