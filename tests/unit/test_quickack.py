"""TCP_QUICKACK after acknowledgement writes (the broker's Nagle would delay the next message)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sensorhub.plugins.quickack import quick_ack


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")
async def test_quick_ack_sets_the_option_on_the_transports_socket() -> None:
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(writer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    peer = await accepted.get()
    try:
        sock = writer.transport.get_extra_info("socket")
        quick_ack(writer.transport)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
        quick_ack(None)  # no connection: nothing to do
    finally:
        writer.close()
        peer.close()
        server.close()
        await server.wait_closed()
