"""Base model and shared bodies for the JSON API: snake_case in Python, camelCase on the wire."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


def check_printable(text: str) -> str:
    """Refuse control characters (NUL included, which PostgreSQL text cannot hold): a 422 names
    the field instead of a 500 from the database."""
    if not text.isprintable():
        raise ValueError("control or non-printable characters are not allowed")
    return text


PrintableText = Annotated[str, AfterValidator(check_printable)]
"""Any text from a client that reaches the database: a body field or a query parameter."""


class ErrorBody(ApiModel):
    """Every error: `{"error": "module 'x' not found", "status": 404}` (422 adds `detail`)."""

    error: str
    status: int


class ActionResult(ApiModel):
    """What a write answers, as the seed's dashboard reads it: `{success, message}`."""

    success: bool
    message: str


Responses = dict[int | str, dict[str, Any]]

NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "Unknown module"}}
UNAUTHORIZED: Responses = {401: {"model": ErrorBody, "description": "Missing or wrong token"}}
BROKER_DOWN: Responses = {
    503: {"model": ErrorBody, "description": "The MQTT broker is not connected; nothing was sent"}
}
