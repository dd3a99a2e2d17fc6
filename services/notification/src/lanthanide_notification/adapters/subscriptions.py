"""Subscriptions as data: a YAML or JSON file, validated with field-level errors.

    subscriptions:
      - id: acme-erp                      # unique, stable
        applicant: "uscc:91360700MA35XXXX1A"   # exporter key or name; "*" = every case
        webhook_url: https://erp.example.com/lanthanide
        email: licensing@example.com
        kinds: ["decision.*", "case.info_requested"]   # empty or missing = everything
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, ValidationError, model_validator

from lanthanide_notification.domain.model import NoticeKind, Subscription

_KNOWN_KINDS = {k.value for k in NoticeKind}


class SubscriptionFileError(ValueError):
    """The subscriptions file is unreadable or invalid; the message names the file and fields."""


class _SubscriptionEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    applicant: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    webhook_url: HttpUrl | None = None
    email: Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    kinds: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> _SubscriptionEntry:
        if self.webhook_url is None and self.email is None:
            raise ValueError("a subscription needs webhook_url or email (or both)")
        for kind in self.kinds:
            if kind != "*" and kind not in _KNOWN_KINDS and not (
                kind.endswith(".*") and any(k.startswith(kind[:-1]) for k in _KNOWN_KINDS)
            ):
                raise ValueError(f"unknown kind {kind!r}; known: {sorted(_KNOWN_KINDS)} or a prefix like 'decision.*'")
        return self


class _SubscriptionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscriptions: list[_SubscriptionEntry] = Field(default_factory=list)


def load_subscriptions(path: Path) -> list[Subscription]:
    """Read and validate a subscriptions file (.yaml, .yml or .json)."""
    try:
        raw = path.read_bytes()
        data = orjson.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (OSError, orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise SubscriptionFileError(f"{path}: cannot read subscriptions: {exc}") from None
    try:
        parsed = _SubscriptionFile.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise SubscriptionFileError(f"{path}: invalid subscriptions: {problems}") from None
    ids = [e.id for e in parsed.subscriptions]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SubscriptionFileError(f"{path}: duplicate subscription ids: {duplicates}")
    return [
        Subscription(
            id=e.id,
            applicant=e.applicant,
            webhook_url=str(e.webhook_url) if e.webhook_url else None,
            email=e.email,
            kinds=frozenset(e.kinds),
        )
        for e in parsed.subscriptions
    ]
