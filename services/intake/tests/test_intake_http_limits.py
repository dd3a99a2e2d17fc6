"""POST /applications refuses an oversized body without buffering it (in-process ASGI app)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from lanthanide.events import EventFactory
from lanthanide_intake.entrypoints.http import create_app
from lanthanide_intake.settings import IntakeSettings

KEY = "k" * 32


class _NoPublish:
    async def publish(self, _items: Any) -> None:
        raise AssertionError("an oversized body must never be published")


def _client(limit: int) -> httpx.AsyncClient:
    settings = IntakeSettings(api_keys={KEY: "test"}, max_body_bytes=limit)
    app = create_app(settings, _NoPublish(), EventFactory("intake"))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


class _Body:
    """A 1,000 KiB request body streamed in 1 KiB chunks, counting the chunks read."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(1000):
            self.sent += 1
            yield b"x" * 1024


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    body = _Body()
    async with _client(limit=4096) as http:
        headers = {"X-API-Key": KEY, "Content-Length": str(1024 * 1000)}
        resp = await http.post("/applications", content=body, headers=headers)
    assert resp.status_code == 413
    assert "4096" in resp.json()["detail"]
    assert body.sent < 1000  # not read to the end


async def test_chunked_body_over_the_limit_is_refused_while_streaming() -> None:
    body = _Body()
    async with _client(limit=8192) as http:
        resp = await http.post("/applications", content=body, headers={"X-API-Key": KEY})
    assert resp.status_code == 413
    assert body.sent < 1000


async def test_a_body_within_the_limit_is_read_and_validated() -> None:
    async with _client(limit=8192) as http:
        resp = await http.post("/applications", content=b'{"not": "an application"}', headers={"X-API-Key": KEY})
    assert resp.status_code == 422
    assert resp.json()["errors"]
