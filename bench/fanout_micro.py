"""`python -m bench.fanout_micro`: CPU µs per live event of the fan-out alone, no network.

What one connected client costs the server per message before the WebSocket write: the drain
(`mqtt_message` dicts from `Accepted` readings), the manager's routing, the frame encoding and
the queue put, for one client asking for `mqtt-message` per message (`single`) or for
`mqtt:batch` frames (`batch`, one flush per 50 messages as at 5,000 msg/s with 10 ms ticks), and
for no client (the drain is skipped then). The client's queue is emptied the way engine.io's
writer does (`get_nowait` until empty), without sending. CPU is `time.process_time`, which
does not count what the shared machine spends on other work; min / median / max of `--runs`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from sensorhub.ingest.messages import Accepted, MessageKind
from sensorhub.live.access import ClientOptions
from sensorhub.live.engine import SendQueue, SocketIOServer
from sensorhub.live.events import mqtt_message
from sensorhub.live.fanout import BoundedFanout

BATCH = 50
"""Messages per flush of batched clients: 5,000 msg/s at the default 10 ms tick."""


class Socket:
    """What the manager touches of an engine.io socket."""

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.closing = self.closed = self.upgrading = False
        self.upgraded = True
        self.queue = SendQueue()


def readings(count: int) -> list[Accepted]:
    now = datetime.now(UTC)
    return [
        Accepted(
            topic=f"bench-{n % 100:03d}/s{n % 4}/temperature",
            module_id=f"bench-{n % 100:03d}",
            kind=MessageKind.MEASUREMENT,
            time=now,
            value=20 + n % 100 / 10,
        )
        for n in range(count)
    ]


def one_run(mode: str, messages: int) -> float:
    """CPU µs per message for `mode` (`none`, `single`, `batch`)."""

    async def main() -> float:
        manager = BoundedFanout()
        SocketIOServer(async_mode="asgi", client_manager=manager)
        manager.batch_interval = 3600  # flushed by hand every BATCH messages
        socket = Socket("s")
        manager.server.eio.sockets["e-s"] = socket
        if mode != "none":
            options = (
                ClientOptions(batch=True)
                if mode == "batch"
                else ClientOptions(events=frozenset({"mqtt-message"}))
            )
            manager.register("s", "e-s", options)
        data = readings(messages)
        queue: Any = socket.queue
        started = time.process_time()
        for first in range(0, messages, BATCH):
            if mode != "none":
                manager.deliver([mqtt_message(a) for a in data[first : first + BATCH]])
                if mode == "batch":
                    manager._flush_batches()
            while not queue.empty():
                queue.get_nowait()
                queue._taken = 0
        return (time.process_time() - started) / messages * 1e6

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_micro", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for mode in ("none", "single", "batch"):
        values = sorted(one_run(mode, args.messages) for _ in range(args.runs))
        print(
            f"{mode:>6}: {values[0]:.2f} / {statistics.median(values):.2f} / {values[-1]:.2f} "
            f"µs per message (min / median / max of {args.runs})"
        )


if __name__ == "__main__":
    main()
