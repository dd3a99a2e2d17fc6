"""Observability of the running chain: every service as its own OS process on a real broker,
a handful of applications with known outcomes, then

- each service's /metrics shows the business figures with the counts the topics prove;
- one application's trace (trace id = its correlation id) holds spans of all five services,
  exported over OTLP/HTTP to a receiver in this test, parent links crossing the services;
- every log line naming one of the cases carries its correlation id;
- records carry CloudEvents headers the CloudEvents SDK reads (Kafka binding, binary mode).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections import defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from lanthanide.kafka import ensure_topics
from lanthanide.settings import KafkaSettings
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import submitted_record
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port
from lanthanide.testing.webhook import WebhookReceiver
from lanthanide.topics import Topics, dlq
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parent))
from mix import build_mix

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

SECRET = uuid4().hex
REVIEWER = "rev-" + uuid4().hex
METRICS_TOKEN = uuid4().hex


class _OtlpReceiver(BaseHTTPRequestHandler):
    """POST /v1/traces (OTLP/HTTP protobuf): keeps every span with its service name."""

    spans: list[dict[str, Any]] = []  # noqa: RUF012 (one receiver per test run)

    def do_POST(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
            for ss in rs.scope_spans:
                for span in ss.spans:
                    self.spans.append({
                        "service": service.removeprefix("lanthanide-"), "name": span.name,
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(),
                        "attrs": {a.key: a.value.string_value or a.value.int_value for a in span.attributes},
                    })
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out.append((s.labels, s.value))
    return out


def _value(text: str, name: str, **labels: str) -> float:
    return sum(v for lab, v in _samples(text, name) if all(lab.get(k) == w for k, w in labels.items()))


async def _scrape(client: httpx.AsyncClient, port: int) -> str:
    denied = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert denied.status_code == 401  # behind the metrics token
    resp = await client.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200, resp.text
    return resp.text


async def test_metrics_traces_and_logs_of_a_short_run(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"obs{uuid4().hex[:8]}."
    topics = [prefix + t for t in Topics.all()]
    await ensure_topics(KafkaSettings(bootstrap_servers=kafka_bootstrap, partitions=2),
                        [*topics, *(dlq(t) for t in topics)])
    _OtlpReceiver.spans = []
    otlp = ThreadingHTTPServer(("127.0.0.1", free_port()), _OtlpReceiver)
    threading.Thread(target=otlp.serve_forever, daemon=True).start()

    tag = f"OBS{uuid4().hex[:6].upper()}"
    mix = build_mix(seed=17, tag=tag)
    picked: dict[str, Any] = {}
    for case in mix:
        key = case.expect if case.expect != "denied" else f"denied:{case.reason}"
        if key in ("approve_manually", "no_licence_required", "denied:SCR-ENDUSE-MILITARY", "rejected") \
                and key not in picked and not case.duplicate:
            picked[key] = case
    assert len(picked) == 4

    ports = {name: free_port() for name in SERVICES}
    hook = WebhookReceiver()
    env = {
        # The receiver is on loopback (admitted on purpose) and registered for rejections, which
        # never go to an address an invalid application names.
        "LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "LANTHANIDE_NOTIFICATION_SUBSCRIPTIONS_FILE": str(hook.subscription_file(tmp_path / "subscriptions.yaml")),
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LANTHANIDE_DATA_DIR": str(tmp_path / "data"),
        "LANTHANIDE_LOG_LEVEL": "DEBUG",
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": SECRET,
        # The audit ledger's MAC key and checkpoint signing key (Ed25519 seed, hex): per run.
        "LANTHANIDE_AUDIT_LEDGER_KEY": uuid4().hex + uuid4().hex,
        "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY": uuid4().hex + uuid4().hex,
        "LANTHANIDE_NOTIFICATION_RETRY_BASE_DELAY_SECONDS": "0.05",
        "LANTHANIDE_REVIEW_TOKENS": json.dumps({REVIEWER: {"user": "alice", "roles": ["reviewer"]}}),
        "LANTHANIDE_AUDIT_TOKENS": json.dumps({REVIEWER: {"user": "alice", "roles": ["auditor"]}}),
        "LANTHANIDE_OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.server_address[1]}",
        "LANTHANIDE_METRICS_TOKEN": METRICS_TOKEN,
        "LANTHANIDE_METRICS_LAG_INTERVAL_SECONDS": "0.5",
        **{f"LANTHANIDE_{s.upper()}_TOPIC_PREFIX": prefix for s in SERVICES},
    }
    procs = [ServiceProcess(name, env=env, log_dir=tmp_path / "logs", http_port=ports[name]) for name in SERVICES]
    t = {name: prefix + topic for name, topic in (
        ("submitted", Topics.APPLICATIONS_SUBMITTED), ("accepted", Topics.APPLICATIONS_ACCEPTED),
        ("rejected", Topics.APPLICATIONS_REJECTED), ("decisions", Topics.DECISIONS),
        ("notifications", Topics.NOTIFICATIONS), ("screening", Topics.SCREENING_COMPLETED),
    )}
    async with hook:
        for case in picked.values():
            case.app["contact"] = {"webhook_url": hook.url}
        for p in procs:
            p.start()
        try:
            for p in procs:
                p.wait_http(120)
            async with TopicCollector(kafka_bootstrap, topics) as seen, httpx.AsyncClient(timeout=30) as http:
                producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
                await producer.start()
                try:
                    for key, case in picked.items():
                        if key == "rejected":
                            event_id = str(uuid4())
                            value = orjson.dumps({
                                "event_id": event_id, "event_type": "application.submitted", "schema_version": 1,
                                "correlation_id": event_id, "occurred_at": datetime.now(UTC).isoformat(),
                                "producer": {"service": "client:test", "version": "1"}, "payload": case.app,
                            })
                            await producer.send_and_wait(t["submitted"], value)
                        else:
                            k, v = submitted_record(case.app)
                            await producer.send_and_wait(t["submitted"], v, key=k)
                    await producer.send_and_wait(t["submitted"], b"\xff not json")  # -> DLQ
                finally:
                    await producer.stop()

                def decided(c: TopicCollector) -> dict[str, Any]:
                    return {e.payload.external_reference: e for e in c.envelopes(t["decisions"])}

                auto = {picked["no_licence_required"].app["external_reference"],
                        picked["denied:SCR-ENDUSE-MILITARY"].app["external_reference"]}
                await seen.wait_for(lambda c: auto <= set(decided(c)) and c.envelopes(t["rejected"]), 120,
                                    "automatic decisions and the rejection")
                manual = next(e for e in seen.envelopes(t["accepted"])
                              if e.payload.external_reference == picked["approve_manually"].app["external_reference"])
                auth = {"Authorization": f"Bearer {REVIEWER}"}
                for _ in range(120):
                    queue = (await http.get(f"http://127.0.0.1:{ports['review']}/queue", headers=auth)).json()
                    if any(item["case_id"] == str(manual.case_id) for item in queue):
                        break
                    await asyncio.sleep(0.5)
                review_before = await _scrape(http, ports["review"])
                assert _value(review_before, "lanthanide_review_queue_depth") == len(queue) >= 1
                assert _value(review_before, "lanthanide_review_sla_breached_cases") == 0
                r = await http.post(f"http://127.0.0.1:{ports['review']}/cases/{manual.case_id}/approve",
                                    headers=auth, json={"licence_type": "single", "conditions": ["no re-export"]})
                assert r.status_code == 200, r.text
                await seen.wait_for(lambda c: len(decided(c)) == 3, 120, "the manual approval")
                # Every decision and the rejection reach the webhook; outcomes are reported.
                await seen.wait_for(
                    lambda c: {str(e.event_id) for e in [*c.envelopes(t["decisions"]), *c.envelopes(t["rejected"])]}
                    <= {orjson.loads(x.body)["event_id"] for x in hook.received}
                    and len(c.envelopes(t["notifications"])) >= len(hook.received), 120, "webhook deliveries")
                await asyncio.sleep(2.0)  # lag measured, outcomes published
                scraped = {name: await _scrape(http, ports[name]) for name in SERVICES}
                verify = (await http.get(f"http://127.0.0.1:{ports['audit']}/verify",
                                         headers={"Authorization": f"Bearer {REVIEWER}"})).json()
                audit_after = await _scrape(http, ports["audit"])
                decisions = list(decided(seen).values())
                outcomes = seen.envelopes(t["notifications"])
                n_records = len([i for i in seen.items if i.topic in topics])
                # CloudEvents: the SDK reads the binary-mode headers of a real record.
                from cloudevents.v1.kafka import KafkaMessage, from_binary

                record = next(i.record for i in seen.items if i.topic == t["decisions"])
                event = from_binary(KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
                                    data_unmarshaller=orjson.loads)
        finally:
            codes = {p.service: p.stop() for p in procs}
            otlp.shutdown()
    assert all(code == 0 for code in codes.values()), {p.service: p.log_text()[-2000:] for p in procs}

    # --- metrics: counts the topics prove
    intake, screening, review, notification = (scraped[s] for s in ("intake", "screening", "review", "notification"))
    assert _value(intake, "lanthanide_records_produced_total", topic=t["accepted"]) == 3
    assert _value(intake, "lanthanide_records_produced_total", topic=t["rejected"]) == 1
    assert _value(intake, "lanthanide_dead_letters_total", topic=t["submitted"]) == 1
    assert _value(intake, "lanthanide_records_consumed_total", topic=t["submitted"]) == 3  # the valid envelopes
    assert _value(intake, "faststream_received_messages_total") >= 1  # FastStream's middleware is on
    assert _value(screening, "lanthanide_screening_screened_total", rescreen="false") == 3
    assert _value(screening, "lanthanide_records_produced_total", topic=t["screening"]) == 3
    for d in decisions:
        route = d.payload.route.value if d.payload.route else "none"
        assert _value(review, "lanthanide_decisions_total", outcome=d.payload.outcome.value, route=route) == 1
    assert _value(review, "lanthanide_decisions_total") == 3
    assert _value(review, "lanthanide_review_queue_depth") == 0
    lag = _samples(review, "lanthanide_consumer_lag")
    assert lag and {lab["topic"] for lab, _ in lag} <= {prefix + Topics.SCREENING_COMPLETED,
                                                        prefix + Topics.SHIPMENTS_REPORTED}
    assert all(v == 0 for _, v in lag), lag
    delivered = defaultdict(int)
    for o in outcomes:
        delivered[(o.payload.channel, o.payload.status)] += 1
    host = f"127.0.0.1:{hook.port}"
    assert _value(notification, "lanthanide_webhook_deliveries_total", outcome="delivered", target=host) == \
        delivered[("webhook", "delivered")] >= 4
    assert verify["ok"] is True and verify["checked"] == n_records
    assert _value(audit_after, "lanthanide_ledger_entries_total") == n_records
    assert _value(audit_after, "lanthanide_ledger_verifications_total", result="ok") == 1
    assert _value(audit_after, "lanthanide_ledger_verified_ok") == 1

    # --- CloudEvents
    denied = next(d for d in decisions if d.payload.outcome.value == "denied")
    assert event["specversion"] == "1.0" and event["type"] == "lanthanide.decision.made"
    assert event["source"] == "/lanthanide/review" and event["subject"] == str(record.key.decode())
    assert event["id"] == event.data["event_id"] and event["time"]

    # --- traces: one trace per application, through the five services
    trace_id = UUID(str(denied.correlation_id)).hex
    spans = [s for s in _OtlpReceiver.spans if s["trace_id"] == trace_id]
    assert {s["service"] for s in spans} >= set(SERVICES), {s["service"] for s in spans}
    by_id = {s["span_id"]: s for s in spans}
    notified = [s for s in spans if s["service"] == "notification" and s["attrs"].get("lanthanide.event_type")
                == "decision.made"]
    assert notified and by_id[notified[0]["parent"]]["service"] == "review"  # a real parent across services
    screened = [s for s in spans if s["service"] == "screening" and s["attrs"].get("lanthanide.event_type")
                == "application.accepted"]
    assert screened and by_id[screened[0]["parent"]]["service"] == "intake"

    # --- logs: every line naming one of these cases carries its correlation id
    correlation = {str(e.case_id): str(e.correlation_id) for e in decisions}
    lines_with_case = 0
    for p in procs:
        for line in p.log_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("case_id") in correlation:
                lines_with_case += 1
                assert entry.get("correlation_id") == correlation[entry["case_id"]], (p.service, entry)
    assert lines_with_case >= 10
