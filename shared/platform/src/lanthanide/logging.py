"""One logging setup: structlog JSON lines on stderr, case_id/correlation_id bound per message.

Never log screened names or personal data at INFO: log ids, counts, codes.
"""

from __future__ import annotations

import logging
import sys

import structlog
from lanthanide.settings import LoggingSettings


def configure_logging(service: str, settings: LoggingSettings | None = None) -> None:
    """Configure structlog and stdlib logging once per process."""
    from lanthanide.observe import case_context  # services only: it brings OpenTelemetry

    settings = settings or LoggingSettings()
    level = getattr(logging, settings.level)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        # Lines about a case of the batch in hand get its correlation id (lanthanide.observe).
        case_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (aiokafka, faststream, uvicorn) log through stdlib: same format, WARNING and up.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer
        ], foreign_pre_chain=shared)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.WARNING))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
