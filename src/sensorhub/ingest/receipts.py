"""Receive times given to QoS 1 packets, so that a redelivery (DUP=1) gets the same time again.

A reading without a device time (a plain number, JSON without `time`, a clock-corrected reading, a
log line) is stored at the time sensorhub received it. If the broker delivers the packet again —
after a reconnect, or after sensorhub died between committing the batch and sending its PUBACK —
a new receive time would make a second row. So each batch's transaction also records, for its
QoS 1 packets stored at their receive time, (packet id, digest of topic and payload, receive
time) in `ingest_receipts` (sensorhub.db.writes); a redelivery of the same packet id with the
same digest reuses the time, and the idempotent writes absorb the duplicate.

A message whose device time was kept needs no receipt (half of a typical backlog: no digest, no
row in `ingest_receipts`): its redelivery carries the same device time, so it lands on the same
row whatever its receive time. The receive time only decides whether a device time is kept, and a
later one keeps it too (the device time is then even less far ahead of it; a retention horizon
passed in between rejects the redelivery of a row that is already stored).

Packet identifiers are 16 bit and per MQTT session, so at most 65,535 receipts matter at a time:
the newest receipt of each packet id is kept in memory, loaded from the database at start-up.

A batch spooled while the database is down carries its receipts in the spool record; they are
written when it is replayed, and read from the spool at start-up (sensorhub may have died after
spooling and before the PUBACK). Not covered: a shared-subscription rebalance hands a message to
another instance as a new packet (DUP=0).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import UTC, datetime

Receipt = tuple[int, int, datetime]
"""(packet id, digest, receive time)."""


MAX_CACHED_TOPICS = 16_384
"""Topics whose CRC `Receipts.digest` keeps (a fleet's topics repeat endlessly)."""


def digest(topic: str | bytes, payload: bytes) -> int:
    """CRC-32 of topic and payload: tells a redelivery from a new message that reuses the id.

    Equal to `zlib.crc32(payload, topic_crc(topic))` (the fast path keeps each topic's CRC)."""
    name = topic.encode() if isinstance(topic, str) else topic
    return zlib.crc32(payload, zlib.crc32(name))


def topic_crc(topic: str) -> int:
    """The CRC-32 of a text topic, to continue over a payload (`digest`)."""
    return zlib.crc32(topic.encode())


class Receipts:
    """The newest receive time of each packet id, with the digest of what it carried."""

    def __init__(self, known: Iterable[Receipt] = ()) -> None:
        # Two dicts rather than one of (digest, time) tuples: no tuple for the collector to
        # track per message. The fast path (ingest/readings.py) writes them itself.
        self.codes: dict[int, int] = {}
        """Packet id → digest of its newest receipt."""
        self.times: dict[int, datetime | float] = {}
        """Packet id → its receive time (epoch seconds of a whole microsecond when noted by the
        fast path)."""
        self._topic_crcs: dict[str, int] = {}
        for packet_id, code, received in known:
            if packet_id not in self.codes:
                self.codes[packet_id], self.times[packet_id] = code, received

    def digest(self, topic: str | bytes, payload: bytes) -> int:
        """`digest(topic, payload)`, with the CRC of each text topic computed once."""
        if type(topic) is not str:
            return digest(topic, payload)
        crc = self._topic_crcs.get(topic)
        if crc is None:
            crc = self._topic_crc(topic)
        return zlib.crc32(payload, crc)

    def _topic_crc(self, topic: str) -> int:
        if len(self._topic_crcs) >= MAX_CACHED_TOPICS:
            self._topic_crcs.clear()
        crc = self._topic_crcs[topic] = zlib.crc32(topic.encode())
        return crc

    def __len__(self) -> int:
        return len(self.times)

    def note(self, packet_id: int, code: int, received: datetime) -> None:
        self.codes[packet_id] = code
        self.times[packet_id] = received

    def time_of(self, packet_id: int, code: int) -> datetime | None:
        """The receive time first given to this packet, or None if it was never received."""
        if self.codes.get(packet_id) != code:
            return None
        received = self.times[packet_id]
        if isinstance(received, datetime):
            return received
        return datetime.fromtimestamp(received, UTC)
