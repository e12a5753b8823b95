"""The one parser of MQTT broker URLs (`mqtt://`, `mqtts://`, `tcp://`, `ssl://`).

Pydantic's `AnyUrl` does the parsing (RFC 3986, ports 0 to 65535); this module adds the MQTT
schemes, their default ports (1883 plain, 8883 TLS) and percent-decoded credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self
from urllib.parse import unquote

from pydantic import AnyUrl, ValidationError

SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}
"""URL scheme → whether it means TLS."""
DEFAULT_PORTS = {False: 1883, True: 8883}


@dataclass(frozen=True)
class BrokerAddress:
    """Where a broker listens and how to log in: `host`, `port`, `tls`, credentials or None."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str, *, default_host: str | None = None) -> Self:
        """Parse `mqtt://user:pass@host:port` (a bare `host:port` means `mqtt://host:port`).

        `default_host` stands in for a URL without a host; without it such a URL is an error.

        Raises:
            ValueError: not a URL, an unsupported scheme, a bad port, or no host.
        """
        text = url.strip()
        try:
            parts = AnyUrl(text if "://" in text else f"mqtt://{text}")
        except ValidationError as error:
            reason = error.errors()[0].get("ctx", {}).get("error", "not a URL")
            raise ValueError(f"invalid broker URL: {reason}") from None
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"unsupported broker URL scheme {parts.scheme!r}: use mqtt://host:1883 or "
                "mqtts://host:8883"
            )
        host = (parts.host or "").strip("[]") or default_host
        if not host:
            raise ValueError("the broker URL names no host: use mqtt://host:1883")
        tls = SCHEMES[parts.scheme]
        return cls(
            host=host,
            port=parts.port or DEFAULT_PORTS[tls],
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def redact_broker_url(url: str) -> str:
    """The URL with its password replaced by `***`, for logs; an unparsable URL comes back as is."""
    try:
        parts = AnyUrl(url)
    except ValidationError:
        return url
    if parts.password is None:
        return url
    host = parts.host or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.username or ''}:***@{host}{port}{parts.path or ''}".rstrip("/")
