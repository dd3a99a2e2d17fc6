"""Hostile input at the edges: intake over Kafka and over HTTP.

Hypothesis draws a corpus of hostile submissions (random bytes, invalid UTF-8, JSON of the
wrong shape, valid applications with fields dropped, retyped, padded with extra fields, control
characters and injection strings, deep nesting, oversized bodies) plus hand-picked cases that
once stalled a partition. They go through a real intake process (and screening and review, so
valid traffic sent at the same time must be fully decided) on a broker this module owns.
Every Kafka input must end as an accepted or rejected event (with field-level reasons) or a DLQ
record; every HTTP input must get 202, 413 or 422 (never a 5xx); no process may die or stall.

The corpus is drawn with @given on a plain function rather than by running each example
against the services: one round trip per example would cost seconds, and the point here is
the system's behaviour under the whole corpus at once, not shrinking.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lanthanide.client import LanthanideClient
from lanthanide.ids import derived_id
from lanthanide.serde import MAX_MESSAGE_BYTES
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application
from lanthanide.testing.kafka import load_runner
from lanthanide.testing.processes import ServiceProcess, free_port
from lanthanide.topics import Topics, dlq

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.slow]

API_KEY = "fuzz-" + uuid4().hex
MAX_BODY = 1_000_000  # IntakeSettings.max_body_bytes default, set explicitly below
INJECTIONS = [
    "'; DROP TABLE cases; --", "\" OR 1=1 --", "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://x/a}",
    "../../etc/passwd", "%s%s%s%n", "\u202eexe.txt", "\x00\x01\x1b[31m", "A" * 4000, "🧲" * 300,
]
FIELDS = ["external_reference", "exporter", "items", "parties", "end_use", "contract", "route", "documents",
          "payment_method", "contact"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@st.composite
def mutated_application(draw: st.DrawFn) -> dict[str, Any]:
    """A valid application with one to three hostile edits."""
    app = civilian_application(f"FZ-{draw(st.integers(0, 10**9))}")
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["drop", "retype", "extra", "inject", "nest"]))
        target = draw(st.sampled_from(FIELDS))
        if edit == "drop":
            app.pop(target, None)
        elif edit == "retype":
            app[target] = draw(json_values)
        elif edit == "extra":
            app[draw(st.text(min_size=1, max_size=20))] = draw(json_values)
        elif edit == "inject":
            where = draw(st.sampled_from(["external_reference", "exporter.name", "parties.0.name",
                                          "end_use.description", "items.0.description"]))
            node: Any = app
            *path, last = where.split(".")
            try:  # an earlier edit may have dropped or retyped the path: then inject at the root
                for part in path:
                    node = node[int(part)] if part.isdigit() else node[part]
                node[last] = ""
            except (KeyError, IndexError, TypeError, ValueError):
                node, last = app, "external_reference"
            node[last] = draw(st.sampled_from(INJECTIONS)) + draw(st.text(max_size=20))
        else:
            depth = draw(st.integers(50, 3000))
            app[target] = json.loads("[" * depth + "]" * depth) if depth < 900 else None
    return app


def _auto_decided(ref: str) -> dict[str, Any]:
    """A valid application that is decided without a reviewer (an unlisted light rare earth)."""
    app = civilian_application(ref)
    app["items"][0].update(description="Cerium oxide polishing powder", form="oxide", hs_code="2846101000",
                           elements=[{"element": "Ce", "percent": "90"}])
    return app


def _dumps(value: Any) -> bytes:
    """JSON with the stdlib: unlike orjson it encodes integers beyond 64 bits, which hostile
    clients can send."""
    return json.dumps(value).encode()


def _as_envelope(payload: Any, event_id: str) -> bytes:
    return _dumps({
        "event_id": event_id, "event_type": "application.submitted", "schema_version": 1, "case_id": None,
        "correlation_id": event_id, "causation_id": None, "occurred_at": "2026-01-05T08:00:00Z",
        "producer": {"service": "fuzz", "version": "1"}, "payload": payload,
    })


hostile_body = st.one_of(
    st.binary(max_size=300),
    st.binary(min_size=1, max_size=50).map(lambda b: b"\xff\xfe" + b + b"\xc3\x28"),  # invalid UTF-8
    json_values.map(_dumps),
    mutated_application().map(_dumps),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=100).map(str.encode),  # control characters
)
hostile_envelope_payload = st.one_of(json_values, mutated_application())


def _draw_corpus(n: int) -> tuple[list[bytes], list[Any]]:
    bodies: list[bytes] = []
    payloads: list[Any] = []

    @settings(max_examples=n, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(body=hostile_body, payload=hostile_envelope_payload)
    def draw(body: bytes, payload: Any) -> None:
        bodies.append(body)
        payloads.append(payload)

    draw()
    return bodies, payloads


def _hand_picked() -> list[bytes]:
    """Inputs aimed at the size limits and the shape of the rejection itself."""
    many_extras = {f"extra_field_{i}": i for i in range(30_000)}  # 30,000 field errors in one rejection
    long_key = civilian_application("FZ-LONGKEY")
    long_key["k" * 900_000] = 1  # one error whose location is 900 kB long
    return [
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting beyond any parser's recursion limit
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b" " * (MAX_MESSAGE_BYTES + 1),  # just over the serde limit
        orjson.dumps(many_extras),
        orjson.dumps(long_key),
        b"\xef\xbb\xbf" + orjson.dumps(civilian_application("FZ-BOM")),  # a UTF-8 byte-order mark
        b"null", b"[]", b'"just a string"', b"1e999999", b'{"event_type": "application.submitted"}',
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, ServiceProcess]]]:
    """A broker this module owns, and intake, screening and review on it."""
    tmp = tmp_path_factory.mktemp("fuzz")
    runner = load_runner()
    cluster = runner.KafkaCluster(nodes=1, num_partitions=3, data_dir=tmp / "kafka")
    cluster.start()
    env = {
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
        "LANTHANIDE_DATA_DIR": str(tmp / "data"),
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({API_KEY: "fuzz"}),
        "LANTHANIDE_INTAKE_MAX_BODY_BYTES": str(MAX_BODY),
    }
    procs = {svc: ServiceProcess(svc, env=env, log_dir=tmp / "logs", http_port=free_port())
             for svc in ("intake", "screening", "review")}
    try:
        for p in procs.values():
            p.start()
        for p in procs.values():
            p.wait_http(120)
        yield cluster.bootstrap_servers, procs
        codes = {name: p.stop() for name, p in procs.items()}
        assert all(code == 0 for code in codes.values()), (codes, procs["intake"].log_text()[-3000:])
    finally:
        for p in procs.values():
            p.kill()
        cluster.stop(kill=True)


async def test_hostile_kafka_records_end_as_rejection_or_dead_letter(
    stack: tuple[str, dict[str, ServiceProcess]],
) -> None:
    bootstrap, procs = stack
    bodies, payloads = _draw_corpus(60)
    bodies += _hand_picked()
    valid = [_auto_decided(f"FZ-OK-{uuid4().hex[:8]}") for _ in range(20)]
    topics = [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED, dlq(Topics.APPLICATIONS_SUBMITTED),
              Topics.DECISIONS]
    async with TopicCollector(bootstrap, topics) as seen:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * MAX_MESSAGE_BYTES)
        await producer.start()
        expected: list[set[UUID]] = []  # for each input: the ids its outcome may be caused by
        coordinates: list[tuple[int, int]] = []
        rng = random.Random(7)
        async with LanthanideClient(bootstrap) as client:
            try:
                inputs = [(b, None) for b in bodies]
                inputs += [(_as_envelope(p, str(uuid4())), None) for p in payloads]
                rng.shuffle(inputs)
                for i, (raw, _) in enumerate(inputs):
                    meta = await producer.send_and_wait(Topics.APPLICATIONS_SUBMITTED, raw)
                    coordinates.append((meta.partition, meta.offset))
                    ids = {derived_id(Topics.APPLICATIONS_SUBMITTED, meta.partition, meta.offset)}
                    try:
                        parsed = orjson.loads(raw)
                        if isinstance(parsed, dict) and isinstance(parsed.get("event_id"), str):
                            ids.add(UUID(parsed["event_id"]))
                    except (orjson.JSONDecodeError, ValueError):
                        pass
                    expected.append(ids)
                    if i % 10 == 0:  # valid traffic interleaved with the hostile stream
                        await client.submit_many(valid[i // 10 * 2:i // 10 * 2 + 2])
                await client.submit_many(valid[len(inputs) // 10 * 2 + 2:])
            finally:
                await producer.stop()
        valid_refs = {a["external_reference"] for a in valid}

        def outcome_ids(c: TopicCollector) -> set[UUID]:
            ids = {e.causation_id for e in c.envelopes(Topics.APPLICATIONS_ACCEPTED)}
            ids |= {e.causation_id for e in c.envelopes(Topics.APPLICATIONS_REJECTED)}
            return {i for i in ids if i is not None}

        def dead(c: TopicCollector) -> set[tuple[int, int]]:
            out = set()
            for r in c.raw(dlq(Topics.APPLICATIONS_SUBMITTED)):
                d = orjson.loads(r.value)
                out.add((d["partition"], d["offset"]))
            return out

        def settled(c: TopicCollector) -> bool:
            done = outcome_ids(c)
            dl = dead(c)
            decided = {e.payload.external_reference for e in c.envelopes(Topics.DECISIONS)}
            return valid_refs <= decided and all(
                ids & done or coord in dl for ids, coord in zip(expected, coordinates, strict=True)
            )

        try:
            await seen.wait_for(settled, 180, "an outcome for every hostile input and decisions for valid ones")
        except TimeoutError:
            done, dl = outcome_ids(seen), dead(seen)
            missing = [base64.b64encode(inputs[i][0][:200]).decode() for i, (ids, coord)
                       in enumerate(zip(expected, coordinates, strict=True)) if not (ids & done or coord in dl)]
            raise AssertionError(f"{len(missing)} inputs without an outcome, e.g. {missing[:3]}; "
                                 f"intake log: {procs['intake'].log_text()[-3000:]}") from None
        for e in seen.envelopes(Topics.APPLICATIONS_REJECTED):
            assert e.payload.errors and all(err.loc and err.message for err in e.payload.errors)
        for r in seen.raw(dlq(Topics.APPLICATIONS_SUBMITTED)):
            assert orjson.loads(r.value)["error"]
    assert all(p.alive() for p in procs.values())


async def test_hostile_http_bodies_get_a_4xx_and_never_a_5xx(
    stack: tuple[str, dict[str, ServiceProcess]],
) -> None:
    bootstrap, procs = stack
    bodies, payloads = _draw_corpus(80)
    bodies += [_dumps(p) for p in payloads] + _hand_picked()
    oversized = orjson.dumps(civilian_application("FZ-HUGE", notes="x" * MAX_BODY))
    auth = {"X-API-Key": API_KEY}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{procs['intake'].http_port}", timeout=60) as http:
        statuses = []
        for body in bodies:
            resp = await http.post("/applications", content=body, headers=auth)
            assert resp.status_code in (202, 413, 422), (resp.status_code, resp.text[:500], body[:200])
            if resp.status_code == 422:
                errors = resp.json()["errors"]
                assert errors and all(e["loc"] and e["message"] for e in errors)
            statuses.append(resp.status_code)
        resp = await http.post("/applications", content=oversized, headers=auth)
        assert resp.status_code == 413, resp.text[:300]
        good = _auto_decided(f"FZ-HTTP-{uuid4().hex[:8]}")
        resp = await http.post("/applications", json=good, headers=auth)
        assert resp.status_code == 202, resp.text
        assert (await http.get("/healthz")).status_code == 200
    assert statuses.count(422) > len(statuses) // 2
    async with TopicCollector(bootstrap, [Topics.DECISIONS]) as seen:
        await seen.wait_for(lambda c: any(e.payload.external_reference == good["external_reference"]
                                          for e in c.envelopes(Topics.DECISIONS)), 120, "the valid one decided")
    assert all(p.alive() for p in procs.values())
