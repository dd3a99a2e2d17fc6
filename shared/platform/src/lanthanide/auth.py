"""Bearer-token authentication for every service's HTTP API, in one place.

Tokens come from settings (``LANTHANIDE_<SERVICE>_TOKENS``: ``{"<token>": {"user": "alice",
"roles": ["reviewer"], "expires_at": "2027-01-01T00:00:00+08:00"}}``); none are committed. A
token can expire, and an operator revokes one by adding the SHA-256 of it to
``LANTHANIDE_<SERVICE>_REVOKED_TOKENS`` (the revocation list holds no secret).

Failed authentications are logged at WARNING with the client address, the path and why
(never the credential), and a client with too many failures in a window is answered 429 until
the window has passed, so guessing tokens costs time and leaves a trace.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lanthanide.logging import get_logger
from pydantic import AwareDatetime, BaseModel, Field
from pydantic_settings import BaseSettings

log = get_logger(__name__)


class TokenGrant(BaseModel):
    """Who a bearer token stands for, with which roles, until when."""

    user: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    expires_at: AwareDatetime | None = None


class TokenSettings(BaseSettings):
    """The authentication settings a service with an HTTP API mixes into its settings."""

    #: {"token": {"user": "alice", "roles": ["reviewer"]}}. No default tokens: none are committed.
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)
    #: SHA-256 (hex) of tokens that no longer authenticate.
    revoked_tokens: list[str] = Field(default_factory=list)
    #: Failed authentications one client may make per window before it is answered 429.
    auth_failures_allowed: int = Field(default=10, ge=1)
    auth_failure_window_seconds: float = Field(default=60.0, gt=0)

    def authenticator(self) -> Authenticator:
        """The authenticator these settings describe."""
        return Authenticator(
            self.tokens, revoked=self.revoked_tokens,
            limiter=FailureLimiter(self.auth_failures_allowed, self.auth_failure_window_seconds),
        )


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    user: str
    roles: frozenset[str]


def token_hash(token: str) -> str:
    """What the revocation list holds for a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class FailureLimiter:
    """Counts failed authentications per client in a sliding window."""

    def __init__(self, allowed: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        now = self._clock()
        seen = self._failures.setdefault(client, deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        if not seen:
            self._failures.pop(client, None)
        return seen

    def blocked(self, client: str) -> bool:
        """Whether this client has used up its failures for the current window."""
        return len(self._recent(client)) >= self.allowed

    def failed(self, client: str) -> None:
        """Record one failed authentication of `client`."""
        self._recent(client)
        self._failures.setdefault(client, deque()).append(self._clock())
        if len(self._failures) > 100_000:  # bounded memory under a spray of source addresses
            self._failures.pop(next(iter(self._failures)))


class AuthError(Exception):
    """Authentication failed: `status` 401 (no valid credential) or 429 (too many failures)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Authenticator:
    """Checks bearer tokens against the configured grants, expiry and revocations."""

    def __init__(
        self,
        tokens: Mapping[str, TokenGrant],
        *,
        revoked: Iterable[str] = (),
        limiter: FailureLimiter | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tokens = dict(tokens)
        self._revoked = {h.strip().lower() for h in revoked}
        self.limiter = limiter or FailureLimiter(10, 60.0)
        self._now = now

    def _lookup(self, token: str) -> tuple[TokenGrant | None, str]:
        found: TokenGrant | None = None
        for known, grant in self._tokens.items():
            # Every configured token is compared (constant time each), so timing does not tell
            # how much of a guess was right.
            if hmac.compare_digest(known.encode(), token.encode()):
                found = grant
        if found is None:
            return None, "unknown token"
        if token_hash(token) in self._revoked:
            return None, "revoked token"
        if found.expires_at is not None and found.expires_at <= self._now():
            return None, "expired token"
        return found, ""

    def authenticate(self, authorization: str | None, *, client: str, path: str) -> Principal:
        """The principal of an ``Authorization: Bearer <token>`` header, or AuthError."""
        if self.limiter.blocked(client):
            log.warning("auth_rate_limited", client=client, path=path)
            raise AuthError(429, "too many failed authentications; try again later")
        token = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else ""
        grant, reason = self._lookup(token) if token else (None, "no bearer token")
        if grant is None:
            self.limiter.failed(client)
            log.warning("auth_failed", client=client, path=path, reason=reason)
            raise AuthError(401, "a valid bearer token is required")
        return Principal(user=grant.user, roles=frozenset(grant.roles))


def fastapi_principal(authenticator: Authenticator, *roles: str) -> Any:
    """A FastAPI dependency (use as ``caller: Principal = Depends(...)``): the caller's
    Principal, 401/429 without a valid token, 403 without one of `roles` (any role when none
    are given)."""
    from fastapi import HTTPException, Request

    def dependency(request: Request) -> Principal:
        client = request.client.host if request.client else "unknown"
        try:
            principal = authenticator.authenticate(
                request.headers.get("authorization"), client=client, path=request.url.path)
        except AuthError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {"Retry-After": "60"}
            raise HTTPException(exc.status, exc.reason, headers=headers) from None
        if roles and not principal.roles & set(roles):
            log.warning("auth_forbidden", client=client, path=request.url.path)
            raise HTTPException(403, f"this needs one of the roles {sorted(roles)}")
        return principal

    # This module postpones annotations and imports FastAPI lazily: give FastAPI the real types.
    dependency.__annotations__ = {"request": Request, "return": Principal}
    return dependency
