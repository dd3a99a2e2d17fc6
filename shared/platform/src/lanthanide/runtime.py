"""Running a service process: the Kafka stage(s), an optional HTTP app, signals and a clean stop.

SIGTERM/SIGINT stop the HTTP server first (no new work), then the broker: FastStream finishes
the batch in flight and commits it before the consumer leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import uvicorn
from faststream.kafka import KafkaBroker
from lanthanide import metrics, tracing
from lanthanide.kafka import ensure_topics, stop_publishers
from lanthanide.logging import get_logger
from lanthanide.settings import KafkaSettings

log = get_logger(__name__)

Hook = Callable[[], Awaitable[Any]]
#: A background task: a coroutine function run for the life of the process.
Job = Callable[[], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class ServiceApp:
    """One service process, as each service's bootstrap wires it and `run_service` runs it.

    Start: the catalogue's topics, then `on_startup` in order, then the broker (its subscribers
    start consuming), then `background` tasks and the HTTP app (`http_app` on http_host:http_port;
    none or no port = no HTTP server). Stop (SIGTERM/SIGINT): the HTTP server, the background
    tasks, the broker (the batch in flight is finished and committed), the broker's publisher,
    then `on_shutdown` in order."""

    name: str
    broker: KafkaBroker
    kafka: KafkaSettings
    http_app: Any | None = None
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    on_startup: Sequence[Hook] = ()
    on_shutdown: Sequence[Hook] = ()
    background: Sequence[Job] = ()

    @classmethod
    def around(cls, name: str, service: Any, *, http_app: Any | None = None,
               background: Sequence[Job] = ()) -> ServiceApp:
        """The ServiceApp of a service object that holds `settings` (a ServiceSettings), `broker`,
        and `start`/`stop` run before and after the broker."""
        settings = service.settings
        return cls(name=name, broker=service.broker, kafka=settings.kafka, http_app=http_app,
                   http_host=settings.http_host, http_port=settings.http_port,
                   on_startup=[service.start], on_shutdown=[service.stop], background=background)


def run(app: ServiceApp) -> None:
    """A service's `__main__`: run the app until SIGTERM/SIGINT."""
    asyncio.run(run_service(app))


async def run_service(app: ServiceApp) -> None:
    """Start everything, wait for SIGTERM/SIGINT, stop everything in the right order.

    Also the process's observability: the build-info metric, consumer lag measured in the
    background (lanthanide.metrics) and span export when configured (lanthanide.tracing)."""
    name, broker, kafka, on_startup, on_shutdown = app.name, app.broker, app.kafka, app.on_startup, app.on_shutdown
    tracing.configure_tracing(name)
    metrics.service_started(name)
    lag_interval = metrics.MetricsSettings().lag_interval_seconds
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def start() -> None:
        await _retry(lambda: ensure_topics(kafka), what="ensure_topics")
        for hook in on_startup:
            await hook()
        await _retry(broker.start, what="broker.start")

    # Start-up can wait a long time (Kafka still starting, a schema lock held by a sibling
    # instance): a SIGTERM meanwhile must stop the process, not wait for start-up to finish.
    starting = asyncio.create_task(start(), name=f"{name}-startup")
    stopping = asyncio.create_task(stop.wait(), name=f"{name}-stop")
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await _stop_quietly(broker, on_shutdown)
        log.info("service_stopped", during="startup")
        return
    stopping.cancel()
    starting.result()  # start-up failures surface here
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(job(), name=f"{name}-bg") for job in app.background]
    tasks.append(asyncio.create_task(metrics.lag_loop(name, broker, lag_interval), name=f"{name}-lag"))

    server = None
    server_task = None
    if app.http_app is not None and app.http_port is not None:
        config = uvicorn.Config(
            app.http_app, host=app.http_host, port=app.http_port, log_level="warning",
            access_log=False, lifespan="on",
        )
        server = EmbeddedServer(config)
        server_task = asyncio.create_task(server.serve(), name=f"{name}-http")
    log.info("service_started", http_port=app.http_port)

    await stop.wait()
    log.info("service_stopping")
    if server is not None and server_task is not None:
        server.should_exit = True
        await server_task
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    steps: list[Hook] = [broker.stop, partial(stop_publishers, broker), *on_shutdown]
    for step in steps:
        try:
            await asyncio.wait_for(step(), timeout=kafka.drain_timeout_seconds)
        except TimeoutError:
            # The broker is unreachable: what was not committed is redelivered and deduplicated.
            log.warning("drain_timeout", step=getattr(step, "__qualname__", "hook"),
                        seconds=kafka.drain_timeout_seconds)
    tracing.shutdown_tracing()
    log.info("service_stopped")


class EmbeddedServer(uvicorn.Server):
    """A uvicorn Server that leaves the process's signals alone: the service's own SIGTERM
    handler (run_service) stops it by `should_exit`. uvicorn (0.29+) otherwise takes
    SIGTERM/SIGINT over for as long as `serve()` runs and raises them again when it returns."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_quietly(broker: KafkaBroker, on_shutdown: Sequence[Hook]) -> None:
    """Release whatever a cancelled start-up had acquired; nothing was consumed yet."""
    steps: list[Hook] = [broker.stop, partial(stop_publishers, broker), *on_shutdown]
    for step in steps:
        try:
            await step()
        except Exception as exc:  # best effort: the process is exiting anyway
            log.warning("shutdown_step_failed", error=repr(exc)[:200])


async def _retry(fn: Hook, *, what: str, attempts: int = 30, delay: float = 1.0) -> Any:
    """Kafka may still be starting (make run starts everything at once): retry for a while."""
    for i in range(attempts):
        try:
            return await fn()
        except Exception as exc:
            if i == attempts - 1:
                raise
            log.warning("startup_retry", what=what, attempt=i + 1, error=repr(exc)[:200])
            await asyncio.sleep(delay)
    return None
