"""The simulator's only use of gmqtt's private internals, in one place (gmqtt pinned at 0.8.0).

Two hooks make the simulator fast and let it count what the broker acknowledged:

- `InFlightWindow` is passed as gmqtt's public `persistent_storage` argument, but relies on the
  undocumented protocol gmqtt uses with it: `push_message(mid, raw)` from inside
  `Client.publish` for each QoS 1 message, `remove_message_by_mid(mid)` on PUBACK, `get_all()`
  on reconnect, truthiness (`storage or default`). It bounds unacknowledged publishes per
  connection and counts acknowledgements by `Kind`.
- `coalesce_writes(client)` swaps the asyncio transport that gmqtt's private `_connection` and
  its `_protocol` hold for a `CoalescingTransport`, which gathers the packets written during one
  event-loop step into one socket write.

`tests/integration/test_simulator_adapter.py` runs both against the real broker and fails if an
upgrade of gmqtt changes either: keep every private attribute name of gmqtt inside this module.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sensorhub.simulate.options import Kind


class InFlightWindow:
    """gmqtt's `persistent_storage`: unacknowledged QoS 1 publishes, counted by kind on PUBACK.

    gmqtt calls `push_message` from inside `Client.publish`, so `next_kind`, set just before the
    call, labels the message being sent. `acked[kind]` counts acknowledged messages, `lost` those
    the broker's fresh session dropped.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.next_kind = Kind.MEASUREMENT
        self.acked = [0, 0, 0]
        self.lost = 0
        self._messages: dict[int, tuple[bytes, Kind]] = {}
        self._space = asyncio.Event()
        self._space.set()
        self._empty = asyncio.Event()
        self._empty.set()

    def push_message(self, mid: int, raw_package: bytes) -> None:
        self._messages[mid] = (raw_package, self.next_kind)
        self._empty.clear()
        if len(self._messages) >= self.limit:
            self._space.clear()

    def remove_message_by_mid(self, mid: int) -> None:
        entry = self._messages.pop(mid, None)
        if entry is None:
            return
        self.acked[entry[1]] += 1
        if len(self._messages) < self.limit:
            self._space.set()
        if not self._messages:
            self._empty.set()

    def clear(self) -> None:
        # Called when the broker starts a fresh session: what was in flight is gone.
        self.lost += len(self._messages)
        self._messages.clear()
        self._space.set()
        self._empty.set()

    @property
    def is_empty(self) -> bool:
        return not self._messages

    @property
    def has_space(self) -> bool:
        return self._space.is_set()

    @property
    def count(self) -> int:
        # Not __len__: gmqtt picks its own storage when ours is falsy (`storage or default`).
        return len(self._messages)

    async def wait_empty(self) -> None:
        await self._empty.wait()

    async def wait_space(self) -> None:
        await self._space.wait()

    def get_all(self) -> list[tuple[int, bytes]]:
        return [(mid, entry[0]) for mid, entry in self._messages.items()]


class CoalescingTransport:
    """Gathers the packets written during one event-loop step into a single socket write.

    gmqtt writes every packet straight to the transport, one system call each; at thousands of
    messages a second those calls cost more than building the packets. `socket_writes` counts the
    writes that reached the real transport; `backlog` is its write buffer in bytes.
    """

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._pending: list[bytes] = []
        self.socket_writes = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)
            self.socket_writes += 1

    def close(self) -> None:
        self._flush()
        self._transport.close()

    @property
    def backlog(self) -> int:
        return int(self._transport.get_write_buffer_size())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def coalesce_writes(client: Any) -> CoalescingTransport | None:
    """Route a connected gmqtt `Client`'s writes through a `CoalescingTransport`.

    Idempotent: call it after every (re)connect. Returns the wrapper in place, or None when the
    client has no live connection or gmqtt's internals are not what this adapter expects.
    """
    # gmqtt internals (pinned 0.8.0): the connection and its protocol both hold the transport.
    connection: Any = getattr(client, "_connection", None)
    protocol: Any = getattr(connection, "_protocol", None)
    transport = getattr(connection, "_transport", None)
    if protocol is None or transport is None:
        return None
    if isinstance(transport, CoalescingTransport):
        return transport
    wrapper = CoalescingTransport(transport)
    connection._transport = protocol._transport = wrapper
    return wrapper
