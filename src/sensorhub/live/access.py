"""Who may open a Socket.IO connection and what it asks for: the connect `auth` payload.

A client connects with `auth` = `{"token": str, "modules": [ids], "events": [names],
"batch": bool}`, every key optional (docs/live-events.md). The token is checked like a REST read
(`token_grants(..., write=False)`: SENSORHUB_READ_TOKEN or SENSORHUB_API_TOKEN once either is
set). The browser's `Origin` is checked by engine.io before the connect handler runs, with
`origin_check(CORS_ORIGINS)`: same-origin always, other origins only when listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sensorhub.access import token_grants
from sensorhub.config import Settings
from sensorhub.live.events import DEFAULT_EVENTS, PER_MESSAGE_EVENTS

MAX_MODULES: Final = 1000


class Refused(ValueError):
    """The connect `auth` is not acceptable; the message is sent to the client."""


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """What one client receives.

    `events`: the per-message events it gets (a subset of `mqtt:data`, `mqtt-message`);
    `batch`: it gets `mqtt:batch` frames instead of per-message events;
    `modules`: the modules it follows, None for every module.
    """

    events: frozenset[str] = DEFAULT_EVENTS
    batch: bool = False
    modules: frozenset[str] | None = None
    token: str | None = None


def parse_auth(auth: Any) -> ClientOptions:
    """Read a connect `auth` payload (None or a JSON object).

    Raises:
        Refused: `auth` is not an object, or a key has the wrong type or an unknown event name.
    """
    if auth is None:
        return ClientOptions()
    if not isinstance(auth, Mapping):
        raise Refused("auth must be an object")
    token = auth.get("token")
    if token is not None and not isinstance(token, str):
        raise Refused("auth.token must be a string")
    batch = auth.get("batch", False)
    if not isinstance(batch, bool):
        raise Refused("auth.batch must be true or false")
    modules: frozenset[str] | None = None
    if auth.get("modules") is not None:
        ids = module_ids(auth["modules"])
        if ids is None:
            raise Refused("auth.modules must be a list of module ids")
        modules = frozenset(ids) or None
    events = DEFAULT_EVENTS
    if auth.get("events") is not None:
        names = auth["events"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise Refused("auth.events must be a list of event names")
        unknown = sorted(set(names) - PER_MESSAGE_EVENTS)
        if unknown:
            raise Refused(f"unknown events {unknown}: choose from {sorted(PER_MESSAGE_EVENTS)}")
        events = frozenset(names)
    return ClientOptions(events=events, batch=batch, modules=modules, token=token)


def module_ids(value: Any) -> list[str] | None:
    """A list of distinct, non-empty module ids (at most `MAX_MODULES`), or None when invalid."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return None
    return list(dict.fromkeys(value))[:MAX_MODULES]


def reads_allowed(settings: Settings, token: str | None) -> bool:
    """Whether `token` may read live events (always, when no token is configured)."""
    return token_grants(settings, token, write=False)


def origin_check(listed: list[str]) -> Callable[[str, dict[str, Any]], bool] | str:
    """engine.io's `cors_allowed_origins`: `*` when listed, else a same-origin-or-listed test.

    The same origin is the request's own scheme (engine.io takes `X-Forwarded-Proto` behind a
    proxy, else http) and `Host`; a request without `Origin` (not a browser) is never checked.
    """
    if "*" in listed:
        return "*"
    allowed = frozenset(origin.rstrip("/") for origin in listed)

    def check(origin: str, environ: dict[str, Any]) -> bool:
        if origin in allowed:
            return True
        host = environ.get("HTTP_HOST")
        if not host:
            return False
        scheme = environ.get("wsgi.url_scheme", "http")  # engine.io: X-Forwarded-Proto or http
        return bool(origin == f"{scheme}://{host}")

    return check
