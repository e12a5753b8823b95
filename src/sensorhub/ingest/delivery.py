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


Publish = tuple[str, bytes, int, int | None]
"""One PUBLISH as the adapter parsed it: (topic, payload, flags, packet id). `flags` is the low
nibble of the fixed header: bit 3 DUP, bits 2-1 QoS, bit 0 RETAIN (so 2 is a plain QoS 1
delivery); the packet id is None at QoS 0."""

AckGroup = tuple[asyncio.Future[None] | None, list[int]]
"""QoS 1 packet ids and the future to await before acknowledging them (None: at once)."""

AcceptMany = Callable[[list[Publish]], list[AckGroup]]
"""Takes one socket read's PUBLISH packets, in order, without waiting; returns the QoS 1 packet
ids among them grouped by what to await before acknowledging them, in order."""


def as_delivery(publish: Publish) -> Delivery:
    """The `Delivery` of a parsed PUBLISH."""
    topic, payload, flags, packet_id = publish
    return Delivery(topic, payload, (flags >> 1) & 3, bool(flags & 1), bool(flags & 8), packet_id)


def add_to_groups(
    groups: list[AckGroup], durable: asyncio.Future[None] | None, packet_id: int
) -> None:
    """Append `packet_id` to the last group if it awaits `durable` too, else start a group.

    A future that is done already needs no waiting: its packets join the None group."""
    if durable is not None and durable.done():
        durable = None
    if groups and groups[-1][0] is durable:
        groups[-1][1].append(packet_id)
    else:
        groups.append((durable, [packet_id]))


def accept_each(accept: Accept, on_error: Callable[[Publish], None]) -> AcceptMany:
    """An `AcceptMany` that hands each PUBLISH to `accept` in turn.

    An exception from `accept` is reported to `on_error` and its packet acknowledged at once (the
    message is dropped, ingest goes on)."""

    def accept_many(publishes: list[Publish]) -> list[AckGroup]:
        groups: list[AckGroup] = []
        for publish in publishes:
            try:
                durable = accept(as_delivery(publish))
            except Exception:
                on_error(publish)
                durable = None
            packet_id = publish[3]
            if packet_id is not None:
                add_to_groups(groups, durable, packet_id)
        return groups

    return accept_many
