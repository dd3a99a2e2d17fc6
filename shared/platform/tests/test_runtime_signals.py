"""The HTTP server a service runs leaves SIGTERM to the service (lanthanide.runtime.run_service
stops the server itself, then drains and commits the batch in flight)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import uvicorn
from lanthanide.runtime import EmbeddedServer


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _sigterm_handler_while_serving(server_class: type[uvicorn.Server]) -> Any:
    def ours(_signum: int, _frame: Any) -> None:
        raise AssertionError("not called in this test")

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        server = server_class(uvicorn.Config(_ok, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        during = signal.getsignal(signal.SIGTERM)
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        return during is ours
    finally:
        signal.signal(signal.SIGTERM, previous)


async def test_the_embedded_server_keeps_the_process_sigterm_handler() -> None:
    assert await _sigterm_handler_while_serving(EmbeddedServer) is True


async def test_a_plain_uvicorn_server_would_take_sigterm_over() -> None:
    # Why EmbeddedServer exists: uvicorn replaces the handler for as long as it serves.
    assert await _sigterm_handler_while_serving(uvicorn.Server) is False
