"""A real HTTP receiver for webhook tests (uvicorn on a free port, in the test's event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from lanthanide.runtime import EmbeddedServer
from lanthanide.testing.processes import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Records every POST; `respond(n)` decides the status code of the n-th request (0-based)."""

    respond: Callable[[int], int] = lambda n: 200
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def subscription_file(self, path: Path, kinds: tuple[str, ...] = ("application.rejected",)) -> Path:
        """Write a notification subscriptions file registering this receiver for every case.

        Rejections go only to registered subscriptions (never to the address an invalid
        application names), so a test that expects them at this receiver registers it.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        kinds_yaml = ", ".join(f'"{k}"' for k in kinds)
        path.write_text(
            f'subscriptions:\n  - id: test-receiver\n    applicant: "*"\n'
            f'    webhook_url: "{self.url}"\n    kinds: [{kinds_yaml}]\n',
            encoding="utf-8",
        )
        return path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender died mid-request (e.g. kill -9): nothing was delivered
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        n = len(self.received)
        self.received.append(Received(
            scope["path"], {k.decode().lower(): v.decode() for k, v in scope["headers"]}, body
        ))
        status = self.respond(n)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"no"})

    async def __aenter__(self) -> WebhookReceiver:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server and self._task:
            self._server.should_exit = True
            await self._task
