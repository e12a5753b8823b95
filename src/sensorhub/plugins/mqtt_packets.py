"""Split the bytes read from an MQTT connection into packets, parsing PUBLISH at QoS 0 and 1.

Pure bytes → tuples, no I/O and no library internals: `plugins/gmqtt_adapter.py` feeds it each
socket read (MQTT 3.1.1 / 5, OASIS standard §2.1: fixed header = command byte, remaining length
in 1-4 bytes of 7 bits; PUBLISH §3.3: topic length + topic, packet id at QoS > 0, MQTT 5
property length + properties, payload).
"""

from __future__ import annotations

from collections.abc import Callable

from sensorhub.ingest.delivery import Publish

PUBLISH = 0x30
Other = Callable[[int, int, int], None]
"""`other(command, start, end)`: a packet left to the MQTT client, its body `data[start:end]`."""


def split_packets(data: bytes, mqtt5: bool, publishes: list[Publish], other: Other) -> int:
    """Append the PUBLISH packets at the start of `data` to `publishes` as `Publish` tuples
    `(topic, payload, flags, packet_id)`; call `other` for every other packet, in its turn.

    A PUBLISH at QoS 0 or 1 without MQTT 5 properties, with a non-empty UTF-8 topic, becomes a
    tuple; anything else (QoS 2, properties, a malformed PUBLISH) goes to `other`, which sees
    `publishes` as collected so far and may empty it (to deliver in order).

    Returns the bytes consumed (whole packets; the rest waits for the next read), or -1 when a
    remaining length runs past 4 bytes (malformed stream).
    """
    size, done = len(data), 0
    append = publishes.append
    while size - done >= 2:
        command = data[done]
        length = data[done + 1]
        start = done + 2
        if length >= 0x80:  # a remaining length of 2-4 bytes
            length &= 0x7F
            shift = 7
            while True:
                if start >= size:
                    return done
                byte = data[start]
                start += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    return -1
        end = start + length
        if end > size:
            break
        done = end
        if command & 0xF6 == PUBLISH or command & 0xF6 == PUBLISH | 2:  # QoS 0 or 1
            qos = command & 2
            if length >= 2:
                topic_end = start + 2 + (data[start] << 8 | data[start + 1])
                body = topic_end + qos + mqtt5
                if body <= end and topic_end != start + 2 and not (mqtt5 and data[body - 1]):
                    try:
                        topic = data[start + 2 : topic_end].decode()
                    except UnicodeDecodeError:
                        pass
                    else:
                        mid = data[topic_end] << 8 | data[topic_end + 1] if qos else None
                        append((topic, data[body:end], command & 0x0F, mid))
                        continue
        other(command, start, end)
    return done
