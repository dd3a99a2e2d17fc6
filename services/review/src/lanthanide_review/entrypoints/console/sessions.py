"""Console sign-in sessions and CSRF tokens.

The browser holds only a signed session cookie (Starlette's SessionMiddleware, itsdangerous)
with a random session id and the CSRF token; the bearer token the reviewer signed in with stays
on the server, in `SessionStore`. Every request re-authenticates that token with the same
`Authenticator` as the JSON API, so expiry and revocation end a console session too.

CSRF: a synchronizer token per session, sent as a hidden field in every form and compared in
constant time on every POST (refused with CONSOLE-CSRF).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field


@dataclass
class _Session:
    token: str
    expires: float


@dataclass
class SessionStore:
    """Server-side sessions: session id -> the bearer token it stands for (in memory: a review
    restart signs everyone out, and each review instance has its own sessions)."""

    lifetime_seconds: float = 8 * 3600.0
    max_sessions: int = 10_000
    _by_id: dict[str, _Session] = field(default_factory=dict)

    def create(self, token: str) -> str:
        self._expire()
        while len(self._by_id) >= self.max_sessions:
            self._by_id.pop(next(iter(self._by_id)))
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = _Session(token=token, expires=time.monotonic() + self.lifetime_seconds)
        return sid

    def token(self, sid: str | None) -> str | None:
        if not sid:
            return None
        found = self._by_id.get(sid)
        if found is None or found.expires <= time.monotonic():
            self._by_id.pop(sid, None)
            return None
        return found.token

    def end(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._by_id.items() if v.expires <= now]:
            del self._by_id[sid]


CSRF_FIELD = "csrf_token"
CSRF_RULE = "CONSOLE-CSRF"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Whether a form's token is this session's (constant time; missing on either side fails)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
