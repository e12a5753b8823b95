"""Topic parsing: `{moduleId}/...` → what a message is and its module (docs/contract.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from sensorhub.ingest.messages import InvalidMessage, MessageKind, RejectReason

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
_STATUS_SUFFIXES: Final = {kind: "/".join(levels) for levels, kind in _STATUS_TOPICS.items()}


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A valid topic; `sensor_type` and `hardware_id` are set for measurements only."""

    kind: MessageKind
    module_id: str
    sensor_type: str | None = None
    hardware_id: str | None = None


def parse_topic(topic: str) -> ParsedTopic:
    """Classify a topic, keeping its ids exactly as written.

    Raises:
        InvalidMessage: EMPTY_MODULE_ID or INVALID_TOPIC.
    """
    return _parse_topic(topic)


def format_topic(parsed: ParsedTopic) -> str:
    """The topic a `ParsedTopic` came from (the default hardware id is left out)."""
    if parsed.kind is not MessageKind.MEASUREMENT:
        return f"{parsed.module_id}/{_STATUS_SUFFIXES[parsed.kind]}"
    if parsed.hardware_id in (None, DEFAULT_HARDWARE_ID):
        return f"{parsed.module_id}/{parsed.sensor_type}"
    return f"{parsed.module_id}/{parsed.hardware_id}/{parsed.sensor_type}"


def sensor_config_topic(module_id: str) -> str:
    """Where a module reports its sensor configuration and where sensorhub publishes it."""
    return f"{module_id}/{_STATUS_SUFFIXES[MessageKind.SENSOR_CONFIG]}"


def is_valid_id(name: str) -> bool:
    """Whether a name can be a sensor type or hardware id (one non-reserved topic level)."""
    return _level_problem(name) is None and "/" not in name and name not in RESERVED_LEVELS


# Valid topics repeat endlessly, so parse each once; only successes are cached.
@lru_cache(maxsize=16384)
def _parse_topic(topic: str) -> ParsedTopic:
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
        return ParsedTopic(kind, module_id)
    return _measurement_topic(module_id, rest)


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


def _measurement_topic(module_id: str, rest: tuple[str, ...]) -> ParsedTopic:
    if not rest:
        raise _invalid("no level after the module id")
    reserved = [level for level in rest if level in RESERVED_LEVELS]
    if reserved:
        raise _invalid(f"reserved level {reserved[0]!r} used as a sensor or hardware id")
    if len(rest) == 1:
        return ParsedTopic(MessageKind.MEASUREMENT, module_id, rest[0], DEFAULT_HARDWARE_ID)
    return ParsedTopic(MessageKind.MEASUREMENT, module_id, rest[1], rest[0])


def _invalid(detail: str) -> InvalidMessage:
    return InvalidMessage(RejectReason.INVALID_TOPIC, detail)
