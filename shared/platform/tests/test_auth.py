"""Bearer tokens for every HTTP API: expiry, revocation, failures logged and rate-limited.

No `from __future__ import annotations`: FastAPI resolves the local dependency at definition time.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
import structlog
from fastapi import Depends, FastAPI
from lanthanide.auth import (
    Authenticator,
    AuthError,
    FailureLimiter,
    Principal,
    TokenGrant,
    fastapi_principal,
    token_hash,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _auth(**kw: object) -> Authenticator:
    tokens = {
        "tok-alice": TokenGrant(user="alice", roles=["reviewer"]),
        "tok-old": TokenGrant(user="old", roles=["reviewer"], expires_at=NOW - timedelta(seconds=1)),
        "tok-bob": TokenGrant(user="bob", roles=["auditor"], expires_at=NOW + timedelta(days=1)),
        "tok-gone": TokenGrant(user="gone", roles=["admin"]),
    }
    return Authenticator(tokens, revoked=[token_hash("tok-gone")], now=lambda: NOW, **kw)  # type: ignore[arg-type]


def test_valid_expired_revoked_and_unknown_tokens() -> None:
    auth = _auth()
    assert auth.authenticate("Bearer tok-alice", client="c", path="/") == Principal("alice", frozenset({"reviewer"}))
    assert auth.authenticate("Bearer tok-bob", client="c", path="/").user == "bob"
    for header in ("Bearer tok-old", "Bearer tok-gone", "Bearer nope", "Basic dG9rLWFsaWNl", None, ""):
        with pytest.raises(AuthError) as err:
            auth.authenticate(header, client=f"c-{header}", path="/")
        assert err.value.status == 401


def test_failures_are_logged_without_the_credential_and_rate_limited_per_client() -> None:
    clock = [0.0]
    auth = _auth(limiter=FailureLimiter(10, 60.0, clock=lambda: clock[0]))
    statuses = []
    with structlog.testing.capture_logs() as logs:
        for i in range(300):
            try:
                auth.authenticate(f"Bearer guess-{i}", client="10.9.8.7", path="/queue")
            except AuthError as exc:
                statuses.append(exc.status)
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    failed = [e for e in logs if e["event"] == "auth_failed"]
    assert len(failed) == 10 and all(e["log_level"] == "warning" and e["client"] == "10.9.8.7" for e in failed)
    assert not any("guess-" in str(v) for e in logs for v in e.values())
    # Even the right token waits out the window from that client; another client is unaffected.
    with pytest.raises(AuthError):
        auth.authenticate("Bearer tok-alice", client="10.9.8.7", path="/queue")
    assert auth.authenticate("Bearer tok-alice", client="10.1.1.1", path="/queue").user == "alice"
    clock[0] = 61.0
    assert auth.authenticate("Bearer tok-alice", client="10.9.8.7", path="/queue").user == "alice"


async def test_fastapi_dependency_answers_401_403_429() -> None:
    app = FastAPI()
    auth = _auth(limiter=FailureLimiter(3, 60.0))
    Auditor = Annotated[Principal, Depends(fastapi_principal(auth, "auditor"))]

    @app.get("/ledger")
    async def ledger(caller: Auditor) -> dict[str, str]:
        return {"user": caller.user}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/ledger", headers={"Authorization": "Bearer tok-bob"})).json() == {"user": "bob"}
        assert (await client.get("/ledger", headers={"Authorization": "Bearer tok-alice"})).status_code == 403
        codes = [(await client.get("/ledger", headers={"Authorization": "Bearer x"})).status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
