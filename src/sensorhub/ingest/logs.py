"""Log topics (`{module}/logs`): one line of `device_logs`, from plain text or a JSON object
`{"level": …, "msg" | "message": …, "time": …}`."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sensorhub.ingest.clock import resolve_time
from sensorhub.ingest.messages import Accepted, InvalidMessage, LogEntry, MessageKind, RejectReason
from sensorhub.ingest.normalize import clean_json, clean_text, to_text
from sensorhub.ingest.payload import parse_json
from sensorhub.ingest.rules import InterpretRules
from sensorhub.ingest.topics import ParsedTopic

MAX_LOG_LEVEL_LENGTH: Final = 16
MAX_LOG_MESSAGE_LENGTH: Final = 2000


def interpret_log(
    parsed: ParsedTopic,
    text: str,
    received_at: datetime,
    rules: InterpretRules,
    nul_stripped: bool = False,
) -> Accepted:
    """The log line of one message; text that is not a JSON object is the message itself.

    Raises:
        InvalidMessage: EMPTY_PAYLOAD, INVALID_PAYLOAD (a JSON log without a text `msg`), or
            TOO_OLD (its `time` is older than `RETAIN_FOR`).
    """
    stripped = clean_text(text).strip()
    if not stripped:
        raise InvalidMessage(RejectReason.EMPTY_PAYLOAD, "empty payload")
    document = _log_document(stripped)
    if document is None:  # plain text log line
        message = stripped[:MAX_LOG_MESSAGE_LENGTH].rstrip()
        level, when, corrected, device_time = "info", received_at, False, False
        metadata: dict[str, object] = {"level": level, "msg": message}
    else:
        raw_message = document.get("msg", document.get("message"))
        found = to_text(raw_message, MAX_LOG_MESSAGE_LENGTH)
        if found is None:
            raise InvalidMessage(RejectReason.INVALID_PAYLOAD, "log without a text 'msg'")
        message = found
        level = (to_text(document.get("level"), MAX_LOG_LEVEL_LENGTH) or "info").lower()
        when, corrected, device_time = resolve_time(document.get("time"), received_at, rules)
        cleaned = clean_json(document)
        assert isinstance(cleaned, dict)
        metadata = cleaned
    module_id = parsed.module_id
    return Accepted(
        parsed.topic,
        module_id,
        MessageKind.LOG,
        when,
        log=LogEntry(when, module_id, level, message),
        metadata=metadata,
        clock_corrected=corrected,
        device_time=device_time,
        nul_stripped=nul_stripped,
    )


def _log_document(text: str) -> dict[str, object] | None:
    if not text.startswith("{"):
        return None
    try:
        document = parse_json(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
