"""The client process of `bench.latency`: raw Engine.IO 4 / Socket.IO 5 WebSocket clients.

Each client joins with the connect `auth` of its mode (`single`: `mqtt-message` per message,
`batch`: `mqtt:batch` frames), and for every event on the measured topic subtracts the send time
carried in the value (µs since the epoch) from its receive time (one machine, one clock).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing.connection
import time
from urllib.parse import urlsplit

from bench.latency_stats import summary

AUTH = {"single": {"events": ["mqtt-message"]}, "batch": {"batch": True}}
PREFIX = {"single": '42["mqtt-message"', "batch": '42["mqtt:batch"'}


def clients_main(
    base_url: str, count: int, mode: str, pipe: multiprocessing.connection.Connection
) -> None:
    try:
        asyncio.run(_clients(base_url, count, mode, pipe))
    except Exception as error:  # reported to the parent, which fails the run
        pipe.send(f"error: {error!r}")


async def _clients(
    base_url: str, count: int, mode: str, pipe: multiprocessing.connection.Connection
) -> None:
    from websockets.asyncio.client import connect

    parts = urlsplit(base_url)
    url = f"ws://{parts.netloc}/socket.io/?EIO=4&transport=websocket"
    join = "40" + json.dumps(AUTH[mode])
    prefix = PREFIX[mode]
    latencies: list[float] = []
    received = [0] * count
    frames = [0] * count

    async def client(index: int, connected: asyncio.Event) -> None:
        async with connect(url, compression=None, max_size=None, ping_interval=None) as ws:
            opened = await ws.recv()
            if not str(opened).startswith("0"):
                raise RuntimeError(f"unexpected open packet {opened!r}")
            await ws.send(join)
            joined = await ws.recv()
            if not str(joined).startswith("40"):
                raise RuntimeError(f"unexpected connect packet {joined!r}")
            connected.set()
            async for message in ws:
                now_us = time.time_ns() / 1000
                if message == "2":  # engine.io ping
                    await ws.send("3")
                    continue
                if not isinstance(message, str) or not message.startswith(prefix):
                    continue
                frames[index] += 1
                data = json.loads(message[2:])[1]
                for event in data if mode == "batch" else [data]:
                    if "/warmup/" in event["topic"]:
                        continue
                    latencies.append((now_us - event["value"]) / 1000)
                    received[index] += 1

    connected = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(client(i, connected[i])) for i in range(count)]
    deadline = time.monotonic() + 30
    while not all(event.is_set() for event in connected):
        failed = [task for task in tasks if task.done()]
        if failed:
            failed[0].result()  # raises the client's error
            raise RuntimeError("a client stopped before connecting")
        if time.monotonic() > deadline:
            raise RuntimeError("clients did not connect within 30 s")
        await asyncio.sleep(0.05)
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    cpu_before, wall_before = time.process_time(), time.monotonic()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    cpu = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(
        {
            "received": sum(received),
            "frames": sum(frames),
            "client_cpu": round(cpu, 3),
            "latency": summary(latencies),
        }
    )
