"""The whole decision chain: a real broker, every service as its own OS process, 200 varied
applications, and the exact outcome each one must get."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
import pytest
from lanthanide.client import LanthanideClient
from lanthanide.kafka_secure import Credentials
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.kafka import service_env
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port
from lanthanide.testing.webhook import WebhookReceiver
from lanthanide.topics import Topics

sys.path.insert(0, str(Path(__file__).parent))
from mix import Case, build_mix

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

SECRET = uuid4().hex  # per-run webhook secret and API credentials: nothing secret in the repo
REVIEWER = "rev-" + uuid4().hex
SENIOR = "sen-" + uuid4().hex


def _case_id(app: dict[str, Any]) -> UUID:
    from lanthanide.contracts import Application
    from lanthanide.ids import case_id_for

    parsed = Application.model_validate(app)
    return case_id_for(parsed.exporter_key, parsed.external_reference)


def _verify(headers: dict[str, str], body: bytes, url: str) -> bool:
    """Both signatures verify with the endpoint's own key (derived from the master secret)."""
    from lanthanide_notification.signing import endpoint_key, endpoint_secret
    from standardwebhooks import Webhook, WebhookVerificationError

    ts, sig = headers.get("x-lanthanide-timestamp", ""), headers.get("x-lanthanide-signature", "")
    key = endpoint_key(SECRET, url)
    expected = hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    try:
        Webhook(endpoint_secret(SECRET, url)).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return hmac.compare_digest(sig, f"sha256={expected}")


async def test_two_hundred_applications_get_exactly_the_right_outcome(
    secure_kafka: Credentials, tmp_path: Path
) -> None:
    """On a secured broker (SASL_SSL, SCRAM-SHA-512, ACLs): every service as its own principal,
    submissions as `submitter`, decisions read as `subscriber`, case history as `auditor`."""
    tag = f"E2E{uuid4().hex[:6].upper()}"
    cases = build_mix(seed=20261129, tag=tag)
    assert len(cases) >= 200
    ports = {name: free_port() for name in SERVICES}
    hook = WebhookReceiver()
    env = {
        # Rejections reach only registered subscriptions: the receiver is registered for them.
        "LANTHANIDE_NOTIFICATION_SUBSCRIPTIONS_FILE": str(hook.subscription_file(tmp_path / "subscriptions.yaml")),
        "LANTHANIDE_DATA_DIR": str(tmp_path / "data"),
        "LANTHANIDE_LOG_LEVEL": "INFO",
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": SECRET,
        # The audit ledger's MAC key and checkpoint signing key (Ed25519 seed, hex): per run.
        "LANTHANIDE_AUDIT_LEDGER_KEY": uuid4().hex + uuid4().hex,
        "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY": uuid4().hex + uuid4().hex,
        # The test receiver listens on loopback, which applicants' webhooks may not reach unless allowed.
        "LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "LANTHANIDE_NOTIFICATION_RETRY_BASE_DELAY_SECONDS": "0.05",
        "LANTHANIDE_REVIEW_TOKENS": json.dumps({
            REVIEWER: {"user": "alice", "roles": ["reviewer"]},
            SENIOR: {"user": "bob", "roles": ["senior_reviewer"]},
        }),
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({SECRET: "e2e"}),
    }
    procs = [
        ServiceProcess(name, env={**env, **service_env(secure_kafka, name)}, log_dir=tmp_path / "logs",
                       http_port=ports[name])
        for name in SERVICES
    ]
    async with hook:
        for case in cases:
            case.app["contact"] = {"webhook_url": hook.url}
        for p in procs:
            p.start()
        try:
            for p in procs:
                if p.service in ("intake", "review"):
                    p.wait_http(90)
            await _run(cases, secure_kafka, hook, ports["review"], tag)
        finally:
            codes = {p.service: p.stop() for p in procs}
        assert all(code == 0 for code in codes.values()), (
            codes, {p.service: p.log_text()[-2000:] for p in procs if codes[p.service] != 0}
        )
    # The audit ledger holds every step of a decided case and its hash chain verifies.
    # With the run's ledger and signing keys; the brokers' per-principal credentials are not in
    # this environment, so the checkpoints compared are the stored ones.
    cli_env = {**os.environ, "LANTHANIDE_DATA_DIR": env["LANTHANIDE_DATA_DIR"],
               **{k: v for k, v in env.items() if k.startswith("LANTHANIDE_AUDIT_")}}
    verify = subprocess.run([sys.executable, "-m", "lanthanide_cli", "audit", "verify", "--checkpoints", "stored"],
                            capture_output=True, text=True, env=cli_env, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    denied_case = next(c for c in cases if c.expect == "denied").app
    timeline = subprocess.run(
        [sys.executable, "-m", "lanthanide_cli", "audit", str(_case_id(denied_case))],
        capture_output=True, text=True, env=cli_env, timeout=120,
    )
    assert timeline.returncode == 0, timeline.stdout + timeline.stderr
    assert "every causation link holds" in timeline.stdout
    exported = subprocess.run(
        [sys.executable, "-m", "lanthanide_cli", "audit", "export", str(_case_id(denied_case))],
        capture_output=True, text=True, env=cli_env, timeout=120, check=True,
    ).stdout
    for step in ("application.submitted", "application.accepted", "screening.completed", "decision.made"):
        assert f'"{step}"' in exported, (step, exported[-2000:])
    # Nothing personal at INFO: screened party names never reach the logs.
    logs = "\n".join(p.log_text() for p in procs)
    assert "Intelligent Epitaxy Technology" not in logs
    assert "Lockheed Martin Corporation" not in logs


async def _run(cases: list[Case], creds: Credentials, hook: WebhookReceiver, review_port: int, tag: str) -> None:
    topics = [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED, Topics.SCREENING_COMPLETED,
              Topics.CASE_EVENTS, Topics.DECISIONS, Topics.NOTIFICATIONS]
    bootstrap = creds.bootstrap_servers
    # The test's own observer reads every topic as the admin; the product's clients use their
    # least-privilege principals.
    async with TopicCollector(bootstrap, topics, settings=creds.settings("admin")) as seen, \
            LanthanideClient(settings=creds.settings("submitter")) as client:
        receipts = await client.submit_many([c.app for c in cases])
        ref_of = {i: c.app["external_reference"] for i, c in enumerate(cases)}

        def mine(env: Any) -> bool:
            return str(getattr(env.payload, "external_reference", "") or "").startswith(tag)

        valid = [i for i, c in enumerate(cases) if c.expect != "rejected"]
        case_ids = {i: receipts[i].case_id for i in valid}
        # Same exporter + same external reference = same case.
        by_reference: dict[str, set[UUID | None]] = defaultdict(set)
        for i in valid:
            by_reference[ref_of[i]].add(case_ids[i])
        assert all(len(ids) == 1 for ids in by_reference.values())
        assert sum(c.duplicate for c in cases) == 20 and len(by_reference) == len(valid) - 20
        distinct_cases = {case_ids[i] for i in valid}
        manual = {case_ids[i] for i, c in enumerate(cases) if c.expect == "approve_manually"}
        auto = {case_ids[i] for i, c in enumerate(cases) if c.expect in ("no_licence_required", "denied")}
        n_rejected = sum(c.expect == "rejected" for c in cases)

        def decided(c: TopicCollector) -> set[UUID]:
            return {e.case_id for e in c.envelopes(Topics.DECISIONS) if mine(e)}

        await seen.wait_for(
            lambda c: auto <= decided(c)
            and len([e for e in c.envelopes(Topics.APPLICATIONS_REJECTED) if mine(e)]) >= n_rejected,
            180, "automatic decisions and rejections",
        )
        # A reviewer approves every queued civilian case through the real API.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{review_port}", timeout=30) as api:
            auth = {"Authorization": f"Bearer {REVIEWER}"}
            assert (await api.get("/queue")).status_code == 401
            queued: set[str] = set()
            waiting = {str(case_ids[i]): c.queue for i, c in enumerate(cases) if c.expect == "queued"}
            for _ in range(120):
                resp = await api.get("/queue", headers=auth)
                assert resp.status_code == 200, resp.text
                queued = {str(item["case_id"]) for item in resp.json()}
                if {str(c) for c in manual} | set(waiting) <= queued:
                    break
                await __import__("asyncio").sleep(1)
            assert {str(c) for c in manual} <= queued
            for case_id in manual:
                r = await api.post(f"/cases/{case_id}/approve", headers=auth,
                                   json={"licence_type": "single", "conditions": ["no re-export"]})
                assert r.status_code == 200, r.text
            # "queued": waits, undecided, in the named queue (enhanced review needs four eyes).
            in_queue = {str(item["case_id"]): item["queue"] for item in (await api.get("/queue", headers=auth)).json()}
            assert {k: in_queue.get(k) for k in waiting} == waiting
        await seen.wait_for(lambda c: manual | auto <= decided(c), 120, "manual approvals")
        # Every decision and rejection reaches the applicant's webhook.
        def undelivered(c: TopicCollector) -> set[str]:
            wanted = {str(e.event_id) for e in c.envelopes(Topics.DECISIONS) if mine(e)}
            wanted |= {str(e.event_id) for e in c.envelopes(Topics.APPLICATIONS_REJECTED) if mine(e)}
            return wanted - {orjson.loads(r.body)["event_id"] for r in hook.received}

        await seen.wait_for(lambda c: not undelivered(c), 120, "webhook deliveries")

        decisions: dict[UUID, list[Any]] = defaultdict(list)
        for e in seen.envelopes(Topics.DECISIONS):
            if mine(e):
                decisions[e.case_id].append(e)
        for case_id, events in decisions.items():
            assert len({e.payload.decision_id for e in events}) == 1, f"two decisions for {case_id}"
            assert len(events) == 1, f"decision for {case_id} published {len(events)} times"
        screened_rules = {e.case_id: set(e.payload.rule_ids) for e in seen.envelopes(Topics.SCREENING_COMPLETED)
                          if mine(e)}
        for i, c in enumerate(cases):
            if c.expect in ("rejected", "info_requested"):
                continue
            if c.expect == "queued":
                assert case_ids[i] not in decisions, (ref_of[i], "decided, must wait in review")
                assert c.reason in screened_rules[case_ids[i]], (ref_of[i], c.reason)
                continue
            (decision,) = decisions[case_ids[i]]
            p = decision.payload
            want = "approved" if c.expect == "approve_manually" else c.expect
            assert p.outcome.value == want, (ref_of[i], c.expect, p.outcome, p.reasons)
            if c.reason:
                codes = " ".join(r.code for r in p.reasons) + " " + " ".join(p.rule_ids)
                assert c.reason in codes, (ref_of[i], c.reason, [r.code for r in p.reasons])
            if want == "approved":
                assert p.licence is not None and p.licence.number and p.decided_by == "alice"
        rejections = [e for e in seen.envelopes(Topics.APPLICATIONS_REJECTED) if mine(e)]
        by_ref = {e.payload.external_reference: e for e in rejections}
        assert len(by_ref) == len(rejections) == n_rejected
        for i, c in enumerate(cases):
            if c.expect == "rejected":
                assert c.field in [err.loc for err in by_ref[ref_of[i]].payload.errors], ref_of[i]
        # Incomplete applications: information requested, no decision.
        incomplete = {case_ids[i] for i, c in enumerate(cases) if c.expect == "info_requested"}
        asked = {e.case_id for e in seen.envelopes(Topics.CASE_EVENTS)
                 if e.payload.kind.value == "info_requested"}
        assert incomplete <= asked
        assert not incomplete & set(decisions)
        # One case per exporter + reference: no stray cases from the duplicates.
        screened = {e.case_id for e in seen.envelopes(Topics.SCREENING_COMPLETED) if mine(e)}
        assert screened == distinct_cases
        # Webhooks: signed, one delivery per decision or rejection.
        bodies = [orjson.loads(r.body) for r in hook.received]
        assert all(_verify(r.headers, r.body, hook.url) for r in hook.received)
        delivered = Counter(b["event_id"] for b in bodies)
        assert all(n == 1 for n in delivered.values()), delivered.most_common(3)
        assert {str(e.event_id) for es in decisions.values() for e in es} <= set(delivered)
        assert {str(e.event_id) for e in rejections} <= set(delivered)
        # The CLI reads a case's history in order.
        some_case = next(iter(auto))
        out = subprocess.run(  # type: ignore[assignment]
            [sys.executable, "-m", "lanthanide_cli", "case", "show", str(some_case), "-b", bootstrap],
            capture_output=True, text=True, timeout=120, env={**os.environ, **creds.env("auditor")},
        )
        assert out.returncode == 0, out.stderr[-3000:]
        out = out.stdout.splitlines()
        types = [json.loads(line)["event_type"] for line in out]
        assert types[0] == "application.submitted" and "decision.made" in types
