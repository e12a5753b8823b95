"""Who may read and who may write: the token rules shared by HTTP and Socket.IO (issue 17).

Kept free of the runtime's imports so that the Socket.IO plugin and the HTTP middleware can both
use it; `sensorhub.deps` re-exports `token_grants` as agreed in the team plan.
"""

from __future__ import annotations

import secrets

from pydantic import SecretStr

from sensorhub.config import Settings


def read_protected(settings: Settings) -> bool:
    """Reads need a token once SENSORHUB_READ_TOKEN is set (issue 17)."""
    return settings.sensorhub_read_token is not None


def token_grants(settings: Settings, presented: str | None, *, write: bool) -> bool:
    """Whether `presented` (a bearer token, or None) may write (`write=True`) or read.

    Writes: SENSORHUB_API_TOKEN, or anyone when it is unset (the start-up bind rule keeps that to
    loopback unless ALLOW_ANONYMOUS_WRITES). Reads: anyone while SENSORHUB_READ_TOKEN is unset;
    once set, the read token or the write token. Constant-time comparisons. Used by the HTTP
    middleware (`sensorhub.http_guard`) and the Socket.IO connect handler.
    """
    write_token = settings.sensorhub_api_token
    if write:
        return write_token is None or _matches(presented, write_token)
    if not read_protected(settings):
        return True
    return _matches(presented, settings.sensorhub_read_token) or _matches(presented, write_token)


def _matches(presented: str | None, token: SecretStr | None) -> bool:
    if token is None or presented is None:
        return False
    return secrets.compare_digest(presented.encode(), token.get_secret_value().encode())
