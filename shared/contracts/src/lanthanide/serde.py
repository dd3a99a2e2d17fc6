"""The one serde: envelopes to JSON bytes and back, with errors that say what was wrong."""

from __future__ import annotations

from typing import Any

import orjson
from lanthanide.contracts.envelope import Envelope
from lanthanide.contracts.events import EVENT_TYPES
from pydantic import BaseModel, ValidationError

#: Refuse to parse messages larger than this (bytes); they go to the dead-letter topic.
MAX_MESSAGE_BYTES = 1_000_000

_ENVELOPE_CLASSES: dict[str, type[Envelope[Any]]] = {
    event_type: Envelope[model] for event_type, model in EVENT_TYPES.items()  # type: ignore[valid-type]
}


class DecodeError(ValueError):
    """The bytes are not a valid event envelope. `reason` is safe to log and to dead-letter."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


def envelope_class(event_type: str) -> type[Envelope[Any]]:
    """Envelope[Payload] for an event type."""
    return _ENVELOPE_CLASSES[event_type]


def to_jsonable(model: BaseModel) -> Any:
    """A JSON-ready structure (UUIDs, dates and decimals as strings)."""
    return model.model_dump(mode="json", exclude_none=False)


def encode(envelope: Envelope[Any]) -> bytes:
    """Envelope -> UTF-8 JSON bytes."""
    return envelope.__pydantic_serializer__.to_json(envelope)


def loads(raw: bytes | str) -> Any:
    """Parse JSON with the size limit; DecodeError on anything that is not JSON."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DecodeError(f"message of {len(raw)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid UTF-8 JSON: {exc}") from None


def decode(raw: bytes | str) -> Envelope[Any]:
    """Bytes -> Envelope with a typed payload. Raises DecodeError with field-level errors."""
    data = loads(raw)
    if not isinstance(data, dict):
        raise DecodeError(f"an event must be a JSON object, got {type(data).__name__}")
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or event_type not in _ENVELOPE_CLASSES:
        raise DecodeError(
            f"unknown or missing event_type {str(event_type)[:60]!r}; known: {sorted(_ENVELOPE_CLASSES)}"
        )
    try:
        return _ENVELOPE_CLASSES[event_type].model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        summary = "; ".join(f"{e['loc']}: {e['message']}" for e in errors[:5])
        raise DecodeError(f"invalid {event_type} envelope: {summary}", errors) from None


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """pydantic errors as {loc, message, type} without echoing the input (it may hold personal data)."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        if prefix and loc.startswith(prefix):
            loc = loc[len(prefix):]
        out.append({"loc": loc or "(root)", "message": err["msg"], "type": err["type"]})
    return out
