"""The consumer runners' observability in-process: log context per record, spans in the case's
trace (trace id = correlation id), outgoing traceparent naming the span that made the output."""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

import pytest
import structlog
from lanthanide import observe, tracing
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def _provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans to an in-memory exporter, without installing a process-wide provider."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    monkeypatch.setattr(tracing, "tracer", lambda: provider.get_tracer("test"))
    EXPORTER.clear()


def _record(topic: str, headers: list[tuple[str, bytes]]) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, partition=0, offset=7, headers=headers)


def _envelope(correlation: object, causation: object = None) -> SimpleNamespace:
    return SimpleNamespace(event_id=uuid4(), correlation_id=correlation, causation_id=causation,
                           case_id=uuid4(), event_type="application.accepted")


def test_without_a_span_the_traceparent_is_derived_from_the_envelope() -> None:
    correlation, cause = uuid4(), uuid4()
    header = observe.trace_headers(correlation, uuid4(), cause)["traceparent"]
    assert header == f"00-{correlation.hex}-{cause.hex[:16]}-01"


@pytest.mark.usefixtures("_provider")
def test_a_record_is_handled_in_its_case_trace_with_its_log_context() -> None:
    upstream = _envelope(uuid4())
    carried = observe.trace_headers(upstream.correlation_id, upstream.event_id, None)["traceparent"]
    envelope = _envelope(upstream.correlation_id, upstream.event_id)
    with observe.handling_batch("screening", ()):
        with observe.handling("screening", _record("t.accepted", [("traceparent", carried.encode())]), envelope):
            bound = structlog.contextvars.get_contextvars()
            assert bound["case_id"] == str(envelope.case_id)
            assert bound["correlation_id"] == str(envelope.correlation_id)
        assert "case_id" not in structlog.contextvars.get_contextvars()
        # An output derived from the record names the record's span as its parent.
        out = observe.trace_headers(envelope.correlation_id, uuid4(), envelope.event_id)["traceparent"]
        line = observe.case_context(None, "info", {"case_id": str(envelope.case_id)})
        assert line["correlation_id"] == str(envelope.correlation_id)
    [span] = EXPORTER.get_finished_spans()
    assert span.context.trace_id == tracing.trace_id_of(envelope.correlation_id)
    assert span.parent is not None and span.parent.span_id == int(carried.split("-")[2], 16)
    assert out == f"00-{envelope.correlation_id.hex}-{span.context.span_id:016x}-01"


@pytest.mark.usefixtures("_provider")
def test_an_upstream_trace_is_linked_not_joined() -> None:
    foreign = f"00-{uuid4().hex}-{uuid4().hex[:16]}-01"
    envelope = _envelope(uuid4())
    with observe.handling("intake", _record("t.submitted", [("traceparent", foreign.encode())]), envelope):
        pass
    [span] = EXPORTER.get_finished_spans()
    assert span.context.trace_id == envelope.correlation_id.int
    assert [f"{link.context.trace_id:032x}" for link in span.links] == [foreign.split("-")[1]]
