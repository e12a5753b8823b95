"""What the broker connection hands to the ingest pipeline: one `Delivery` per PUBLISH received."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Delivery:
    """One PUBLISH received from the broker.

    `topic` is bytes only when it is not valid UTF-8 (the pipeline rejects it, counted);
    `qos` is 0 or 1 (sensorhub subscribes at QoS 1); `packet_id` is the broker's packet identifier
    (None at QoS 0); `dup` is set on a redelivery of a packet the broker sent before; `retain` on
    a retained message delivered because of a (re)subscription.
    """

    topic: str | bytes
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int | None


Accept = Callable[[Delivery], "asyncio.Future[None] | None"]
"""Takes a delivery without waiting; returns the future to await before acknowledging it, or None
to acknowledge at once (QoS 0 needs no acknowledgement)."""
