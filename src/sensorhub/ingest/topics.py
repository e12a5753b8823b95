"""Topic parsing: `{moduleId}/...` → what a message is and its module (docs/contract.md §2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from sensorhub.ingest.messages import InvalidMessage, MessageKind, RejectReason
from sensorhub.ingest.normalize import nfc

RESERVED_LEVELS: Final = frozenset({"system", "sensors", "hardware", "logs"})
DEFAULT_HARDWARE_ID: Final = "default"
MAX_LEVEL_LENGTH: Final = 64
MAX_LEVELS: Final = 3
MAX_TOPIC_LENGTH: Final = MAX_LEVELS * MAX_LEVEL_LENGTH + MAX_LEVELS - 1

_STATUS_TOPICS: Final[dict[tuple[str, ...], MessageKind]] = {
    ("system",): MessageKind.SYSTEM,
    ("logs",): MessageKind.LOG,
    ("system", "config"): MessageKind.SYSTEM_CONFIG,
    ("hardware", "config"): MessageKind.HARDWARE_CONFIG,
    ("sensors", "status"): MessageKind.SENSOR_STATUS,
    ("sensors", "config"): MessageKind.SENSOR_CONFIG,
}


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A valid topic; `sensor_type` and `hardware_id` are set for measurements only.

    `topic` is the topic as text in Unicode NFC, the form every id here is in.
    """

    kind: MessageKind
    module_id: str
    sensor_type: str | None = None
    hardware_id: str | None = None
    topic: str = field(default="", compare=False)


def parse_topic(topic: str | bytes) -> ParsedTopic:
    """Classify a topic; ids are kept as written, in Unicode NFC.

    NFC makes `gewächshaus` sent with a precomposed `ä` and with `a` + combining diaeresis one
    module. Bytes are decoded as UTF-8. Results are cached: valid topics repeat endlessly.

    Raises:
        InvalidMessage: EMPTY_MODULE_ID or INVALID_TOPIC (also for bytes that are not UTF-8).
    """
    if not isinstance(topic, str | bytes):  # bytearray, memoryview: not hashable for the cache
        topic = bytes(topic)
    return _parse_topic(topic)


def is_valid_id(name: str) -> bool:
    """Whether a name can be a sensor type or hardware id (one non-reserved topic level)."""
    return _level_problem(name) is None and "/" not in name and name not in RESERVED_LEVELS


# Only successes are cached (an exception is not a result).
@lru_cache(maxsize=16384)
def _parse_topic(raw: str | bytes) -> ParsedTopic:
    topic = nfc(_topic_text(raw))
    _check_whole(topic)
    levels = topic.split("/")
    if len(levels) > MAX_LEVELS:
        raise _invalid(f"more than {MAX_LEVELS} levels")
    if not levels[0]:
        raise InvalidMessage(RejectReason.EMPTY_MODULE_ID, "empty module id")
    for level in levels:
        problem = _level_problem(level)
        if problem is not None:
            raise _invalid(problem)
    module_id, rest = levels[0], tuple(levels[1:])
    kind = _STATUS_TOPICS.get(rest)
    if kind is not None:
        return ParsedTopic(kind, module_id, topic=topic)
    return _measurement_topic(module_id, rest, topic)


def _topic_text(topic: str | bytes) -> str:
    if isinstance(topic, str):
        return topic
    try:
        return bytes(topic).decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("topic is not UTF-8") from None


def _check_whole(topic: str) -> None:
    if len(topic) > MAX_TOPIC_LENGTH:
        raise _invalid(f"longer than {MAX_TOPIC_LENGTH} characters")
    if topic.startswith("$"):
        raise _invalid("broker topic ($...)")
    if "+" in topic or "#" in topic:
        raise _invalid("wildcard in topic")
    if not topic.isprintable():
        raise _invalid("control or non-printable character")


def _level_problem(level: str) -> str | None:
    if not level:
        return "empty level"
    if len(level) > MAX_LEVEL_LENGTH:
        return f"level longer than {MAX_LEVEL_LENGTH} characters"
    if level[0].isspace() or level[-1].isspace():
        return "level starts or ends with whitespace"
    if "+" in level or "#" in level or not level.isprintable():
        return "wildcard or non-printable character"
    return None


def _measurement_topic(module_id: str, rest: tuple[str, ...], topic: str) -> ParsedTopic:
    if not rest:
        raise _invalid("no level after the module id")
    reserved = [level for level in rest if level in RESERVED_LEVELS]
    if reserved:
        raise _invalid(f"reserved level {reserved[0]!r} used as a sensor or hardware id")
    if len(rest) == 1:
        return ParsedTopic(
            MessageKind.MEASUREMENT, module_id, rest[0], DEFAULT_HARDWARE_ID, topic=topic
        )
    return ParsedTopic(MessageKind.MEASUREMENT, module_id, rest[1], rest[0], topic=topic)


def _invalid(detail: str) -> InvalidMessage:
    return InvalidMessage(RejectReason.INVALID_TOPIC, detail)
