"""Security as tests, against the real stack (every service as an OS process, at INFO, on a broker
this module owns): reviewer credentials and roles, four-eyes and conflicts of interest, webhook
signatures as the receiver sees them, and no personal names in any log line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import uuid4

import httpx
import orjson
import pytest
from lanthanide.client import LanthanideClient
from lanthanide.contracts import Application, ClassificationResult, EndUseAssessment, Route, ScreeningCompleted
from lanthanide.events import EventFactory, Outgoing
from lanthanide.ids import case_id_for
from lanthanide.kafka import Publisher, make_broker
from lanthanide.settings import KafkaSettings
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application
from lanthanide.testing.kafka import load_runner
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port
from lanthanide.testing.webhook import WebhookReceiver
from lanthanide.topics import Topics
from lanthanide_notification.signing import endpoint_key, endpoint_secret, verify_signature
from standardwebhooks import Webhook

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.slow]

SECRET = uuid4().hex
TOKENS = {f"t-{u}-{uuid4().hex[:8]}": {"user": u, "roles": roles} for u, roles in [
    ("alice", ["reviewer"]), ("bob", ["senior_reviewer"]), ("carol", ["senior_reviewer"]),
    ("dave", ["auditor"]), ("erin", ["senior_reviewer"]),
]}
TOKEN = {grant["user"]: token for token, grant in TOKENS.items()}
EXPORTER = "Ganzhou Rare Earth Magnetics Co., Ltd."  # the factory application's exporter
# Distinctive personal and company names: none of them may reach a log line at INFO.
PERSONAL = ["Quennell-Obadiah Zyxwvut", "Marisol Ekwueme-Hartigan", "Vlastimil Oyelaran-Prusik",
            "Fenwick Quarrington Tribology GmbH"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, ServiceProcess], Any]]:
    tmp = tmp_path_factory.mktemp("security")
    cluster = load_runner().KafkaCluster(nodes=1, num_partitions=3, data_dir=tmp / "kafka")
    cluster.start()
    env = {
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
        "LANTHANIDE_DATA_DIR": str(tmp / "data"),
        "LANTHANIDE_LOG_LEVEL": "INFO",
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": SECRET,
        # The audit ledger's MAC key and checkpoint signing key (Ed25519 seed, hex): per run.
        "LANTHANIDE_AUDIT_LEDGER_KEY": uuid4().hex + uuid4().hex,
        "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY": uuid4().hex + uuid4().hex,
        # The test receiver listens on loopback, which applicants' webhooks may not reach unless allowed.
        "LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
        "LANTHANIDE_REVIEW_TOKENS": json.dumps(TOKENS),
        "LANTHANIDE_REVIEW_CONFLICTS": json.dumps({"erin": [EXPORTER]}),
        "LANTHANIDE_REVIEW_OUTBOX_INTERVAL_S": "0.5",
    }
    procs = {svc: ServiceProcess(svc, env=env, log_dir=tmp / "logs", http_port=free_port()) for svc in SERVICES}
    try:
        for p in procs.values():
            p.start()
        for p in procs.values():
            p.wait_http(120)
        yield cluster.bootstrap_servers, procs, cluster
    finally:
        for p in procs.values():
            p.stop()
        cluster.stop(kill=True)


def _enhanced_screening(ref: str) -> Any:
    """A screening.completed for the ENHANCED route (what a watch-list hit produces)."""
    app = Application.model_validate(civilian_application(ref))
    payload = ScreeningCompleted(
        external_reference=ref, application=app, complete=True, missing_documents=[],
        classifications=[ClassificationResult(item_index=0, control_codes=["1C905.a"], licence_required=True)],
        licence_required=True, hits=[], end_use=EndUseAssessment(category=app.end_use.category.value),
        route=Route.ENHANCED, route_reasons=["watch-list party"], rule_ids=["SCR-PARTY-WATCH-LIST"],
        reference_data_version="sec-1", algorithm_version="sec-1", screened_on=date.today(), is_rescreen=False,
    )
    return EventFactory("security-test").new("screening.completed", payload,
                                             case_id=case_id_for(app.exporter_key, ref))


async def _publish(bootstrap: str, outgoing: list[Outgoing]) -> None:
    broker = make_broker(KafkaSettings(bootstrap_servers=bootstrap), "security-test")
    await broker.start()
    try:
        await Publisher(broker).publish(outgoing)
    finally:
        await broker.stop()


async def test_reviewer_api_refuses_missing_wrong_and_underprivileged_credentials(
    stack: tuple[str, dict[str, ServiceProcess], Any],
) -> None:
    bootstrap, procs, _ = stack
    env = _enhanced_screening(f"SEC-{uuid4().hex[:8]}")
    await _publish(bootstrap, [Outgoing(Topics.SCREENING_COMPLETED, env)])
    case = f"/cases/{env.case_id}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{procs['review'].http_port}", timeout=30) as api:
        assert (await api.get("/queue")).status_code == 401
        assert (await api.get("/queue", headers={"Authorization": "Bearer not-a-token"})).status_code == 401
        assert (await api.get("/queue", headers={"Authorization": f"Basic {TOKEN['alice']}"})).status_code == 401
        for _ in range(60):
            r = await api.get(case, headers={"Authorization": f"Bearer {TOKEN['dave']}"})
            if r.status_code == 200:
                break
            await __import__("asyncio").sleep(0.5)
        assert r.status_code == 200, r.text  # an auditor may read ...
        r = await api.post(f"{case}/approve", headers={"Authorization": f"Bearer {TOKEN['dave']}"},
                           json={"licence_type": "single"})
        assert r.status_code == 403, r.text  # ... but not decide
        r = await api.post(f"{case}/countersign", headers={"Authorization": f"Bearer {TOKEN['alice']}"},
                           json={"agree": True})
        assert r.status_code in (403, 409), r.text  # a plain reviewer never countersigns
        assert (await api.post(f"{case}/approve", json={"licence_type": "single"})).status_code == 401


async def test_four_eyes_cannot_be_bypassed(stack: tuple[str, dict[str, ServiceProcess], Any]) -> None:
    bootstrap, procs, _ = stack
    env = _enhanced_screening(f"SEC-{uuid4().hex[:8]}")
    await _publish(bootstrap, [Outgoing(Topics.SCREENING_COMPLETED, env)])
    case = f"/cases/{env.case_id}"

    def auth(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN[user]}"}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{procs['review'].http_port}", timeout=30) as api:
        for _ in range(60):
            if (await api.get(case, headers=auth("bob"))).status_code == 200:
                break
            await __import__("asyncio").sleep(0.5)
        # One signature is not enough on an ENHANCED case, even from a senior reviewer.
        r = await api.post(f"{case}/approve", headers=auth("bob"), json={"licence_type": "single"})
        assert r.status_code in (403, 409), r.text
        # A reviewer with a declared conflict of interest is refused outright.
        r = await api.post(f"{case}/recommend", headers=auth("erin"), json={"outcome": "approved"})
        assert r.status_code == 403 and r.json()["detail"]["rule_id"] == "REV-CONFLICT-OF-INTEREST", r.text
        r = await api.post(f"{case}/recommend", headers=auth("bob"), json={"outcome": "approved"})
        assert r.status_code == 200, r.text
        r = await api.post(f"{case}/countersign", headers=auth("bob"), json={"agree": True})
        assert r.status_code == 403 and r.json()["detail"]["rule_id"] == "REV-FOUR-EYES-SAME-PERSON", r.text
        r = await api.post(f"{case}/countersign", headers=auth("erin"), json={"agree": True})
        assert r.status_code == 403 and r.json()["detail"]["rule_id"] == "REV-CONFLICT-OF-INTEREST", r.text
        assert (await api.get(case, headers=auth("bob"))).json()["state"] != "approved"
        r = await api.post(f"{case}/countersign", headers=auth("carol"), json={"agree": True})
        assert r.status_code == 200, r.text
    async with TopicCollector(bootstrap, [Topics.DECISIONS]) as seen:
        await seen.wait_for(lambda c: any(e.case_id == env.case_id for e in c.envelopes(Topics.DECISIONS)),
                            60, "the countersigned decision")
        (decision,) = [e for e in seen.envelopes(Topics.DECISIONS) if e.case_id == env.case_id]
        assert decision.payload.outcome.value == "approved"


async def test_webhooks_verify_and_no_personal_name_reaches_an_info_log(
    stack: tuple[str, dict[str, ServiceProcess], Any],
) -> None:
    bootstrap, procs, _ = stack
    async with WebhookReceiver() as hook:
        apps = []
        for name in PERSONAL:
            app = civilian_application(f"SEC-PII-{uuid4().hex[:8]}")
            app["parties"] = [{"role": "importer", "name": name, "country": "DE"},
                              {"role": "end_user", "name": name, "country": "DE"}]
            for doc in app["documents"]:
                if doc["kind"] == "end_user_certificate":
                    doc["states_end_user"] = name
            # Unlisted light rare earth: decided automatically (no-licence), so a webhook is sent.
            app["items"][0]["elements"] = [{"element": "Ce", "percent": "90"}]
            app["items"][0].update(description="Cerium oxide polishing powder", form="oxide", hs_code="2846101000")
            app["contact"] = {"webhook_url": hook.url}
            apps.append(app)
        bad = civilian_application(f"SEC-PII-{uuid4().hex[:8]}")
        bad["exporter"]["name"] = PERSONAL[0] + " Trading"
        bad["items"][0]["unit"] = "bushel"
        bad["contact"] = {"webhook_url": hook.url}
        async with LanthanideClient(bootstrap) as client:
            await client.submit_many([*apps, bad])
        refs = {a["external_reference"] for a in apps}
        deadline = __import__("time").monotonic() + 120
        seen_refs: set[str] = set()
        while __import__("time").monotonic() < deadline:
            seen_refs = {orjson.loads(r.body).get("payload", {}).get("external_reference") for r in hook.received}
            if refs <= seen_refs:
                break
            await __import__("asyncio").sleep(0.5)
        assert hook.received
        # The invalid application named the same webhook: its rejection carries the sender's
        # text and goes only to registered subscriptions, never to an address the sender typed.
        await __import__("asyncio").sleep(2)
        seen_refs = {orjson.loads(r.body).get("payload", {}).get("external_reference") for r in hook.received}
        assert bad["external_reference"] not in seen_refs
        for r in hook.received:
            ts, sig = r.headers["x-lanthanide-timestamp"], r.headers["x-lanthanide-signature"]
            key = endpoint_key(SECRET, hook.url)
            assert verify_signature(key, ts, r.body, sig, max_age_seconds=600)
            tampered = r.body.replace(b"}", b' , "extra": 1}', 1)
            assert not verify_signature(key, ts, tampered, sig)
            assert not verify_signature("wrong-secret", ts, r.body, sig)
            assert not verify_signature(key, str(int(float(ts)) + 1), r.body, sig)
            # The master secret itself signs nothing: a receiver only ever holds its own key.
            assert not verify_signature(SECRET, ts, r.body, sig)
            Webhook(endpoint_secret(SECRET, hook.url)).verify(r.body, r.headers, json_parse=False)
    for svc, p in procs.items():
        log = p.log_text()
        for name in [*PERSONAL, PERSONAL[0] + " Trading"]:
            for variant in {name, name.casefold(), name.upper()}:
                assert variant not in log, f"{svc} logged a personal name: {variant!r}"
        assert '"level": "info"' in log or '"level":"info"' in log  # the logs really were at INFO
