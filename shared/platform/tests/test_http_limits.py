"""The HTTP body limit: 413 from Content-Length up front, and while a chunked body streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from lanthanide.http_limits import BodyLimitMiddleware


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimitMiddleware, max_bytes=1_000)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


async def test_small_bodies_pass_and_large_ones_get_413() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        ok = await http.post("/echo", content=b"x" * 1_000)
        assert ok.status_code == 200 and ok.json() == {"size": 1_000}
        big = await http.post("/echo", content=b"x" * 1_001)
        assert big.status_code == 413 and "1000 bytes" in big.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 300  # no Content-Length: the limit applies while streaming

        streamed = await http.post("/echo", content=chunks())
        assert streamed.status_code == 413
