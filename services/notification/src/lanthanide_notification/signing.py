"""Webhook signatures.

Two header sets are sent on every delivery, both keyed with the *endpoint's own* secret:

- Standard Webhooks (https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, verified by any
  Standard Webhooks library (``standardwebhooks.Webhook(secret).verify(body, headers)``).
- The earlier ``X-Lanthanide-*`` headers (HMAC-SHA256 over ``"<timestamp>.<body>"``, sent as
  ``sha256=<hex>``), kept for existing receivers for this major version.

Each endpoint has its own key, derived from the service's master key and the endpoint URL
(`endpoint_secret`), so a receiver can verify its own notices but cannot forge notices to any
other receiver. An operator gives a receiver its secret with `endpoint_secret` (the
``notification endpoint-secret`` command).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

from standardwebhooks import Webhook

SIGNATURE_PREFIX = "sha256="
_ENDPOINT_CONTEXT = b"lanthanide-webhook-endpoint-v1:"


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def endpoint_key(master: str | bytes, url: str) -> bytes:
    """The 32-byte signing key of one endpoint: HMAC-SHA256(master, context + URL).

    The URL is used exactly as registered (or as the applicant gave it), so two spellings of
    one address are two endpoints with two keys.
    """
    return hmac.new(_as_bytes(master), _ENDPOINT_CONTEXT + url.encode("utf-8"), hashlib.sha256).digest()


def endpoint_secret(master: str | bytes, url: str) -> str:
    """The endpoint's secret in the Standard Webhooks form (``whsec_<base64>``), for its receiver."""
    return "whsec_" + base64.b64encode(endpoint_key(master, url)).decode("ascii")


def standard_headers(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery attempt."""
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body),
    }


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
    """True if `header` is the X-Lanthanide-Signature of `body` at `timestamp` under `secret`.

    `secret` is the endpoint's key (`endpoint_key`) or its ``whsec_`` form. With
    `max_age_seconds`, a timestamp older (or further in the future) than that is refused.
    Comparison is constant-time.
    """
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    if isinstance(secret, str) and secret.startswith("whsec_"):
        secret = base64.b64decode(secret[len("whsec_"):])
    if max_age_seconds is not None:
        try:
            age = abs((now if now is not None else time.time()) - float(timestamp))
        except ValueError:
            return False
        if age > max_age_seconds:
            return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)
