"""Late PUBACKs for QoS 1 messages, sent once their batch is durable, many per socket write.

gmqtt can acknowledge late on its own (`optimistic_acknowledgement=False`), but only by running
a task per message and writing one PUBACK per message; at tens of thousands of messages a second
that costs more than interpreting them. Here gmqtt's QoS 1 handler is replaced: each message is
accepted synchronously, its packet id is filed under the future of the batch it joined, and when
that batch is committed or spooled one write carries all of the batch's PUBACKs.

A PUBACK goes out only on the connection the message came in on: after a reconnect the broker
redelivers what was not acknowledged, and the idempotent upsert absorbs the duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from gmqtt.mqtt.constants import MQTTCommands
from gmqtt.mqtt.package import CommandWithMidPacket

from sensorhub.plugins.quickack import quick_ack

logger = logging.getLogger(__name__)

Accept = Callable[[str | bytes, bytes, int], "asyncio.Future[None] | None"]


class LateAcks:
    """Takes over a gmqtt client's QoS 1 deliveries (gmqtt 0.8: `_handle_qos_1_publish_packet`)."""

    def __init__(self, client: Any, accept: Accept) -> None:
        self._client = client
        self._accept = accept
        self._waiting: dict[tuple[asyncio.Future[None], Any], list[int]] = {}
        handler = client._package_handler
        handler._handle_qos_1_publish_packet = self._on_qos1_publish

    def _on_qos1_publish(
        self, mid: int, payload: bytes, topic: str | bytes, properties: Any
    ) -> None:
        connection = self._client._connection
        try:
            durable = self._accept(topic, payload, 1)
        except Exception:
            logger.exception("unexpected error handling a message on %r", topic)
            durable = None
        if durable is None or durable.done():
            self._write(connection, [mid])
            return
        key = (durable, connection)
        mids = self._waiting.get(key)
        if mids is None:
            mids = self._waiting[key] = []
            durable.add_done_callback(partial(self._release, key))
        mids.append(mid)

    def _release(
        self, key: tuple[asyncio.Future[None], Any], durable: asyncio.Future[None]
    ) -> None:
        mids = self._waiting.pop(key, [])
        if durable.cancelled() or durable.exception() is not None:
            return  # not durable: no acknowledgement, the broker will deliver again
        self._write(key[1], mids)

    def _write(self, connection: Any, mids: list[int]) -> None:
        if (
            connection is None
            or connection is not self._client._connection
            or connection.is_closing()
        ):
            return
        protocol = connection._protocol
        version = protocol.proto_ver
        data = b"".join(
            CommandWithMidPacket.build_package(MQTTCommands.PUBACK, mid, False, proto_ver=version)
            for mid in mids
        )
        protocol.write_data(data)
        quick_ack(getattr(protocol, "_transport", None))  # see quickack.py (broker-side Nagle)
