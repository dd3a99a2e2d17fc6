"""The reviewer HTTP API (FastAPI): authentication, refusals, health, and the routers (cases and
reviewer actions in cases_http.py, dispositions in dispositions_http.py) and the console.

(No `from __future__ import annotations` here: FastAPI resolves the local `User` alias.)

Bearer tokens map to (user, roles) from configuration. Refusals carry the rule id that refused;
illegal state moves are 409 with the legal next states.
"""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from lanthanide.auth import Authenticator, AuthError
from lanthanide.http_limits import BodyLimitMiddleware
from lanthanide.logging import get_logger

from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.domain.licences import (
    LicenceTermsError,
)
from lanthanide_review.domain.model import AlreadyDecided, StaleVersion
from lanthanide_review.domain.roles import Actor, Forbidden, Role
from lanthanide_review.domain.states import IllegalTransition
from lanthanide_review.entrypoints.cases_http import cases_router, error_response
from lanthanide_review.entrypoints.console import ConsoleOptions, create_console
from lanthanide_review.entrypoints.dispositions_http import dispositions_router
from lanthanide_review.service_layer.dispositions import DispositionService
from lanthanide_review.service_layer.handlers import (
    CaseNotFound,
    LicenceNotFound,
    ReviewService,
)

log = get_logger(__name__)


def create_app(
    service: ReviewService,
    relay: OutboxRelay,
    authenticator: Authenticator,
    readiness: Callable[[], Awaitable[bool]] | None = None,
    max_body_bytes: int = 64_000,
    console: ConsoleOptions | None = None,
) -> FastAPI:
    """The FastAPI app over a ReviewService; request bodies over `max_body_bytes` get 413."""
    app = FastAPI(
        title="Lanthanide review",
        version="1.0",
        description="Case management for dual-use export licence applications.",
    )
    # Reviewer actions are small JSON documents; without a limit one request could make the
    # service buffer (and validate) gigabytes, or write a case event too large for Kafka.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)

    def actor(request: Request) -> Actor:
        client = request.client.host if request.client else "unknown"
        try:
            principal = authenticator.authenticate(
                request.headers.get("authorization"), client=client, path=request.url.path)
        except AuthError as exc:
            if exc.status == 429:
                raise _RateLimited() from None
            raise _Unauthorized() from None
        return Actor(user=principal.user, roles=frozenset(Role(r) for r in principal.roles if r in set(Role)))

    @app.exception_handler(_Unauthorized)
    async def _unauth(_: Request, exc: _Unauthorized) -> JSONResponse:
        resp = error_response(401, "unauthorized", "a valid bearer token is required")
        resp.headers["WWW-Authenticate"] = "Bearer"
        return resp

    @app.exception_handler(_RateLimited)
    async def _limited(_: Request, exc: _RateLimited) -> JSONResponse:
        resp = error_response(429, "too_many_failed_authentications",
                              "too many failed authentications; try again later")
        resp.headers["Retry-After"] = "60"
        return resp

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "forbidden", exc.message, rule_id=exc.rule_id)

    @app.exception_handler(IllegalTransition)
    async def _illegal(_: Request, exc: IllegalTransition) -> JSONResponse:
        return error_response(409, "illegal_transition", str(exc), state=exc.current.value, wanted=exc.wanted.value)

    @app.exception_handler(StaleVersion)
    async def _stale(_: Request, exc: StaleVersion) -> JSONResponse:
        return error_response(409, "stale_version", str(exc), rule_id=exc.rule_id)

    @app.exception_handler(AlreadyDecided)
    async def _decided(_: Request, exc: AlreadyDecided) -> JSONResponse:
        return error_response(409, "already_decided", str(exc), rule_id=exc.rule_id)

    @app.exception_handler(CaseNotFound)
    @app.exception_handler(LicenceNotFound)
    async def _missing(_: Request, exc: LookupError) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(LicenceTermsError)
    async def _terms(_: Request, exc: LicenceTermsError) -> JSONResponse:
        return error_response(422, "invalid_licence_terms", exc.message, rule_id=exc.rule_id, loc=exc.loc)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        ok = True
        try:
            await service.store.ping()
        except Exception:
            ok = False
        if ok and readiness is not None:
            ok = await readiness()
        return JSONResponse(status_code=200 if ok else 503, content={"ready": ok})

    # The case, reviewer-action and licence routes (cases_http.py), dispositions (dispositions_http.py).
    app.include_router(cases_router(service, relay, actor))
    # Dispositions of screening hits (issue 14.1): their own router and service-layer module.
    app.include_router(dispositions_router(DispositionService(service), relay, actor))

    # The reviewer console (server-rendered pages over the same service and authenticator).
    app.mount("/console", create_console(service, relay, authenticator, console))
    return app


class _RateLimited(Exception):
    """Too many failed authentications from one client."""


class _Unauthorized(Exception):
    """No or unknown bearer token."""
