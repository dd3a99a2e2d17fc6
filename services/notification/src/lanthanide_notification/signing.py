"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", sent as "sha256=<hex>".

Receivers (and examples/subscriber.py) verify with `verify_signature`; the timestamp is part of
the signed text so a captured request cannot be replayed later with a fresh timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_PREFIX = "sha256="


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: str, body: str | bytes) -> str:
    """The X-Lanthanide-Signature header value for a body sent at `timestamp` (unix seconds)."""
    mac = hmac.new(_as_bytes(secret), _as_bytes(timestamp) + b"." + _as_bytes(body), hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str,
    body: str | bytes,
    header: str | None,
    *,
    max_age_seconds: float | None = None,
    now: float | None = None,
) -> bool:
    """True if `header` is the signature of `body` at `timestamp` under `secret`.

    With `max_age_seconds`, a timestamp older (or further in the future) than that is refused.
    Comparison is constant-time.
    """
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    if max_age_seconds is not None:
        try:
            age = abs((now if now is not None else time.time()) - float(timestamp))
        except ValueError:
            return False
        if age > max_age_seconds:
            return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)
