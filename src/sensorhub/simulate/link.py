"""One MQTT connection of the simulator, shared by one or more simulated modules.

A `Link` publishes within a bounded QoS 1 window, counts what the broker acknowledged by `Kind`,
and hands configuration received on its modules' `sensors/config` topics to a callback. The gmqtt
internals it needs are behind `sensorhub.simulate.gmqtt_adapter`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from gmqtt import Client, MQTTConnectError, Subscription
from gmqtt.mqtt.constants import MQTTv311

from sensorhub.broker_url import BrokerAddress
from sensorhub.simulate.gmqtt_adapter import CoalescingTransport, InFlightWindow, coalesce_writes
from sensorhub.simulate.module import Outgoing
from sensorhub.simulate.options import Kind

CONNECT_TIMEOUT = 10.0  # seconds, for the connection and for SUBACKs
SUBSCRIBE_CHUNK = 100  # topic filters per SUBSCRIBE packet
MAX_BACKLOG_BYTES = 4 * 1024 * 1024  # socket write buffer that counts as "no space" (QoS 0)
BACKLOG_POLL = 0.005  # seconds between looks at the socket backlog

ConfigHandler = Callable[[str, bytes], None]
"""Called with (topic, payload) for each message on a subscribed configuration topic."""


class Link:
    """One MQTT connection, shared by one or more modules."""

    def __init__(
        self,
        client_id: str,
        broker: BrokerAddress,
        qos: int,
        max_in_flight: int,
        on_config: ConfigHandler,
    ) -> None:
        self.qos = qos
        self.written = [0, 0, 0]
        self.errors = 0
        self._broker = broker
        self._window = InFlightWindow(max_in_flight)
        self._on_config = on_config
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._config_topics: list[str] = []
        self._transport: CoalescingTransport | None = None
        self._client: Any = Client(client_id, persistent_storage=self._window)
        if broker.username:
            self._client.set_auth_credentials(broker.username, broker.password)
        self._client.on_message = self._message
        self._client.on_subscribe = self._subscribed
        self._client.on_connect = self._connected

    async def connect(self) -> None:
        """Connect (MQTT 3.1.1) within `CONNECT_TIMEOUT`.

        Raises:
            ConnectionError: the broker is unreachable, refused us, or did not answer in time.
        """
        # MQTT 3.1.1 suits publishing and is all the embedded amqtt broker speaks.
        broker = self._broker
        try:
            await asyncio.wait_for(
                self._client.connect(broker.host, broker.port, ssl=broker.tls, version=MQTTv311),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError, MQTTConnectError) as error:
            raise ConnectionError(
                f"cannot connect to the MQTT broker at {broker.host}:{broker.port}: "
                f"{error or type(error).__name__}"
            ) from error
        self._coalesce_writes()

    def _coalesce_writes(self) -> None:
        transport = coalesce_writes(self._client)
        if transport is not None:
            self._transport = transport

    def _connected(self, _client: Any, session_present: Any, _rc: Any, _props: Any) -> None:
        self._coalesce_writes()
        if self._config_topics and not session_present:  # a reconnect that lost the session
            self._client.subscribe([Subscription(t, qos=1) for t in self._config_topics])

    def _message(
        self, _client: Any, topic: str, payload: bytes, _qos: int, _properties: Any
    ) -> int:
        self._on_config(topic, payload)
        return 0

    def _subscribed(self, _client: Any, mid: int, _qos: Any, _properties: Any) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def subscribe(self, topics: list[str]) -> None:
        """Subscribe at QoS 1 and wait for every SUBACK (resubscribed after a lost session)."""
        futures = []
        for start in range(0, len(topics), SUBSCRIBE_CHUNK):
            chunk = [Subscription(t, qos=1) for t in topics[start : start + SUBSCRIBE_CHUNK]]
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._subacks[self._client.subscribe(chunk)] = future
            futures.append(future)
        await asyncio.wait_for(asyncio.gather(*futures), CONNECT_TIMEOUT)
        self._config_topics.extend(topics)

    @property
    def has_space(self) -> bool:
        """Room in the QoS 1 window, and (what bounds QoS 0) a short socket backlog."""
        backlog = self._transport.backlog if self._transport else 0
        return self._window.has_space and backlog < MAX_BACKLOG_BYTES

    async def wait_space(self) -> None:
        await self._window.wait_space()
        # The transport reports its backlog only to its protocol (gmqtt's): poll it.
        while not self.has_space and self._client.is_connected:  # noqa: ASYNC110
            await asyncio.sleep(BACKLOG_POLL)

    def publish(self, kind: Kind, message: Outgoing, qos: int | None = None) -> None:
        """Send now; callers keep to the in-flight window (`has_space` / `wait_space`)."""
        if not self._client.is_connected:
            self.errors += 1
            return
        qos = self.qos if qos is None else qos
        self._window.next_kind = kind
        self._client.publish(message.topic, message.payload, qos=qos, retain=message.retain)
        if qos == 0:
            self.written[kind] += 1

    def delivered(self, kind: Kind) -> int:
        """Messages of `kind` written (QoS 0) or acknowledged by the broker (QoS 1)."""
        return self.written[kind] + self._window.acked[kind]

    @property
    def undelivered(self) -> int:
        return self.errors + self._window.lost

    @property
    def in_flight(self) -> int:
        return self._window.count

    @property
    def socket_writes(self) -> int:
        """Writes that reached the socket since the last (re)connect."""
        return self._transport.socket_writes if self._transport else 0

    async def drain(self, limit: float) -> None:
        """Wait up to `limit` seconds for every QoS 1 publish to be acknowledged."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._window.wait_empty(), limit)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.disconnect(), 5.0)
