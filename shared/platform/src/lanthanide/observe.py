"""What the consumer runners do around each record: log context, a span, the metrics.

`handling` wraps one record handled on its own (lanthanide.kafka.register_stage): its case_id,
correlation_id, event_id and event_type are bound to structlog's contextvars, so every log line
the handler writes carries them, and a consumer span (child of the record's trace context) is
current. `handling_batch` wraps a batch handed to a service at once (review, notification,
audit): one span per record, and the batch's case -> correlation map, from which the
`case_context` log processor completes any log line naming a case or an event of the batch.

`trace_headers` gives an outgoing record its traceparent: the span of the record it was derived
from (causation_id) when that is in hand, else the current span if it is in the case's trace,
else the stand-in derived from the envelope (lanthanide.tracing).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from lanthanide import metrics, tracing
from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind


@dataclass
class _BatchContext:
    spans: dict[str, SpanContext] = field(default_factory=dict)  # event_id -> its handling span
    correlation_of_case: dict[str, str] = field(default_factory=dict)
    case_of_event: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    open: list[trace.Span] = field(default_factory=list)  # spans that end with the batch


_batch: contextvars.ContextVar[_BatchContext | None] = contextvars.ContextVar("lanthanide_batch", default=None)


def _header(record: Any, name: str) -> bytes | None:
    for key, value in getattr(record, "headers", None) or ():
        if key == name:
            return value if isinstance(value, bytes) else None
    return None


def _start_span(service: str, record: Any, envelope: Any) -> trace.Span:
    correlation = envelope.correlation_id
    carried = tracing.parse_traceparent(_header(record, "traceparent"))
    links: list[Link] = []
    if carried is not None and carried.trace_id == tracing.trace_id_of(correlation):
        parent = carried
    else:
        if carried is not None:
            links.append(Link(carried))  # an upstream's own trace: linked, not joined
        parent = tracing.derived_parent(correlation, envelope.event_id)
    return tracing.tracer().start_span(
        f"{record.topic} process",
        context=tracing.as_context(parent),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.kafka.destination.partition": record.partition,
            "messaging.kafka.offset": record.offset,
            "messaging.message.id": str(envelope.event_id),
            "lanthanide.service": service,
            "lanthanide.event_type": envelope.event_type,
            "lanthanide.case_id": str(envelope.case_id) if envelope.case_id else "",
            "lanthanide.correlation_id": str(correlation),
        },
    )


def _remember(ctx: _BatchContext, envelope: Any, span: trace.Span) -> None:
    event_id, correlation = str(envelope.event_id), str(envelope.correlation_id)
    case = str(envelope.case_id) if envelope.case_id else None
    ctx.spans[event_id] = span.get_span_context()
    ctx.case_of_event[event_id] = (case, correlation)
    if case:
        ctx.correlation_of_case[case] = correlation


@contextmanager
def handling(service: str, record: Any, envelope: Any) -> Iterator[trace.Span]:
    """Around the handling of one record (and the logging it does)."""
    metrics.consumed(service, record.topic, record.partition, record.offset)
    span = _start_span(service, record, envelope)
    ctx = _batch.get() or _BatchContext()
    _remember(ctx, envelope, span)
    token = _batch.set(ctx)
    try:
        with log_context(envelope), trace.use_span(span, end_on_exit=True, record_exception=True):
            yield span
    finally:
        _batch.reset(token)


@contextmanager
def log_context(envelope: Any) -> Iterator[None]:
    """Every log line in the block names the envelope's correlation id, event id and type and
    its case: work done later for an event (a queued delivery, say) logs as its handling did."""
    fields = {"correlation_id": str(envelope.correlation_id), "event_id": str(envelope.event_id),
              "event_type": envelope.event_type}
    if envelope.case_id:
        fields["case_id"] = str(envelope.case_id)
    bound = structlog.contextvars.bind_contextvars(**fields)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**bound)


@contextmanager
def handling_batch(service: str, pairs: Sequence[tuple[Any, Any]]) -> Iterator[None]:
    """Around a batch handled at once, its outputs' publishing included: (record, envelope)
    pairs of the records that decoded (more can join with `add_to_batch`)."""
    ctx = _BatchContext()
    token = _batch.set(ctx)
    try:
        for record, envelope in pairs:
            add_to_batch(service, record, envelope)
        yield
    finally:
        _batch.reset(token)
        for span in ctx.open:
            span.end()


def add_to_batch(service: str, record: Any, envelope: Any) -> None:
    """A decoded record joins the batch scope in force: counted, and given a span that ends
    with the scope. Outside a scope (a benchmark replaying records) it is only counted."""
    metrics.consumed(service, record.topic, record.partition, record.offset)
    ctx = _batch.get()
    if ctx is not None:
        span = _start_span(service, record, envelope)
        ctx.open.append(span)
        _remember(ctx, envelope, span)


def trace_headers(correlation_id: Any, event_id: Any, causation_id: Any) -> dict[str, str]:
    """The `traceparent` header of an outgoing record (see the module docstring)."""
    if correlation_id is None:
        return {}
    trace_id = tracing.trace_id_of(correlation_id)
    ctx = _batch.get()
    if ctx is not None and causation_id is not None:
        cause = ctx.spans.get(str(causation_id))
        if cause is not None and cause.trace_id == trace_id:
            return {"traceparent": tracing.traceparent(trace_id, cause.span_id, bool(cause.trace_flags.sampled))}
    current = trace.get_current_span().get_span_context()
    if current.is_valid and current.trace_id == trace_id:
        return {"traceparent": tracing.traceparent(trace_id, current.span_id, bool(current.trace_flags.sampled))}
    return {"traceparent": tracing.traceparent(trace_id, tracing.span_id_of(causation_id or event_id))}


def case_context(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: a log line that names a case (or an event) of the batch in hand
    gets the case's correlation id (and the event's case id)."""
    ctx = _batch.get()
    if ctx is None or event_dict.get("correlation_id"):
        return event_dict
    case = event_dict.get("case_id")
    if case is None:
        found = ctx.case_of_event.get(str(event_dict.get("event_id")))
        if found is None:
            return event_dict
        found_case, found_correlation = found
        if found_case is not None:
            event_dict["case_id"] = found_case
        event_dict["correlation_id"] = found_correlation
        return event_dict
    correlation = ctx.correlation_of_case.get(str(case))
    if correlation is not None:
        event_dict["correlation_id"] = correlation
    return event_dict

