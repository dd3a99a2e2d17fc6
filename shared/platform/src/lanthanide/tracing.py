"""OpenTelemetry traces: one application's path through the services is one trace.

W3C trace context travels in each record's `traceparent` header. The trace id of a case is
its correlation id (a UUID is 128 bits, as a W3C trace id is), so the chain stays one trace
even where no span is active when a record is produced (the review outbox relay, a timer, an
upstream that sends no header) and whoever reads the ledger can find the trace from the case.
A header whose trace id is not the correlation id (an upstream's own trace) becomes a span link.

Exporting is off unless LANTHANIDE_OTEL_EXPORTER_OTLP_ENDPOINT (or the standard
OTEL_EXPORTER_OTLP_ENDPOINT) is set: then spans go to that OTLP/HTTP collector in batches.
Without it the API's no-op tracer is used; the trace context is still propagated.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TRACER_NAME = "lanthanide"


class TracingSettings(BaseSettings):
    """LANTHANIDE_OTEL_*: where spans are exported (nowhere by default)."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_OTEL_", extra="ignore", populate_by_name=True)

    #: OTLP/HTTP collector base URL, e.g. http://127.0.0.1:4318; none = exporting off.
    exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LANTHANIDE_OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )


def configure_tracing(service: str, settings: TracingSettings | None = None) -> bool:
    """Install a tracer provider exporting over OTLP/HTTP when an endpoint is configured;
    returns whether exporting is on. Call once per process, before the broker starts."""
    settings = settings or TracingSettings()
    if not settings.exporter_otlp_endpoint:
        return False
    from lanthanide.version import __version__
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({
        "service.name": f"lanthanide-{service}", "service.version": __version__,
    }))
    endpoint = settings.exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    return True


def shutdown_tracing() -> None:
    """Flush spans still buffered (a stopping process)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


def telemetry_middleware() -> Any:
    """FastStream's Kafka telemetry middleware: spans around the broker's own publishes and
    around each consumed batch (on the global tracer provider)."""
    from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

    return KafkaTelemetryMiddleware()


def tracer() -> trace.Tracer:
    """The tracer of Lanthanide's own spans."""
    return trace.get_tracer(TRACER_NAME)


def trace_id_of(correlation_id: UUID | str) -> int:
    """The trace id of a case: its correlation id's 128 bits."""
    return (correlation_id if isinstance(correlation_id, UUID) else UUID(str(correlation_id))).int


def span_id_of(event_id: UUID | str) -> int:
    """A stable span id standing for the production of an event (its id's first 64 bits)."""
    value = (event_id if isinstance(event_id, UUID) else UUID(str(event_id))).int >> 64
    return value or 1


def traceparent(trace_id: int, span_id: int, sampled: bool = True) -> str:
    """A W3C traceparent header value."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def parse_traceparent(value: str | bytes | None) -> SpanContext | None:
    """The span context a traceparent header names, or None when it is absent or malformed."""
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    parts = text.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))


def derived_parent(correlation_id: UUID | str, event_id: UUID | str) -> SpanContext:
    """The parent of the handling of an event when its record carried no usable context: the
    event's stand-in production span, in the case's trace."""
    return SpanContext(trace_id_of(correlation_id), span_id_of(event_id), is_remote=True,
                       trace_flags=TraceFlags(TraceFlags.SAMPLED))


def as_context(span_context: SpanContext) -> Any:
    """An OpenTelemetry context whose current span is `span_context` (to start children)."""
    return trace.set_span_in_context(NonRecordingSpan(span_context))
