"""The chaos harness: a 3-node Kafka cluster, two OS processes per service sharing one
PostgreSQL database per service, a stream of labelled applications, a controller that kill -9's
service instances and one broker, and an exact account of what came out.

Used by test_reliability_chaos.py (5,000 applications, `make test-chaos`) and by the smaller
guard that runs in `make test`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
from lanthanide.client import LanthanideClient
from lanthanide.kafka_secure import Credentials
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.kafka import service_env
from lanthanide.testing.postgres import create_database
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port
from lanthanide.testing.webhook import WebhookReceiver
from lanthanide.topics import Topics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from mix import CIVIL_USES, CONTROLLED, COUNTRIES, LISTED_END_USERS, UNCONTROLLED, Case, _app

INSTANCES = 2
# Services whose store is a database shared by both instances (intake keeps no state).
DB_SERVICES = {
    "screening": "LANTHANIDE_SCREENING_DATABASE_URL",
    "review": "LANTHANIDE_REVIEW_DB_URL",
    "notification": "LANTHANIDE_NOTIFICATION_DB_URL",
    "audit": "LANTHANIDE_AUDIT_DB_URL",
}


def build_chaos_mix(n: int, seed: int, tag: str, manual_share: float = 0.06) -> list[Case]:
    """About `n` labelled submissions in the e2e proportions, scaled: a few manual approvals,
    mostly automatic decisions (no-licence, military and listed-party denials), invalid ones,
    incomplete ones and ~8% resubmissions of earlier applications (same exporter + reference)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    counter = 0

    def ref() -> str:
        nonlocal counter
        counter += 1
        return f"{tag}-{counter:05d}"

    originals = round(n / 1.08)
    shares = {"approve_manually": manual_share, "denied_military": 0.14, "denied_listed": 0.14,
              "rejected": 0.10, "info_requested": 0.03}
    counts = {k: max(1, round(v * originals)) for k, v in shares.items()}
    counts["no_licence_required"] = originals - sum(counts.values())
    breakers: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("items.0.unit", lambda a: a["items"][0].__setitem__("unit", "bushel")),
        ("items.0.quantity", lambda a: a["items"][0].__setitem__("quantity", "-3")),
        ("parties.0.country", lambda a: a["parties"][0].__setitem__("country", "Atlantis")),
        ("end_use", lambda a: a.pop("end_use")),
        ("items.0.currency", lambda a: a["items"][0].__setitem__("currency", "XYZ")),
    ]
    for _ in range(counts["approve_manually"]):
        cases.append(Case(_app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED)), "approve_manually"))
    for _ in range(counts["no_licence_required"]):
        cases.append(Case(_app(ref(), rng, rng.choice(COUNTRIES), rng.choice(UNCONTROLLED)), "no_licence_required"))
    for _ in range(counts["denied_military"]):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        app["end_use"] = {"category": "military", "description": "Magnets for actuators"}
        cases.append(Case(app, "denied", reason="SCR-ENDUSE-MILITARY"))
    for i in range(counts["denied_listed"]):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        listed = LISTED_END_USERS[i % len(LISTED_END_USERS)]
        app["parties"][1]["name"] = listed
        for doc in app["documents"]:
            if doc["kind"] == "end_user_certificate":
                doc["states_end_user"] = listed
        cases.append(Case(app, "denied", reason="SCR-PARTY-CONTROL-LIST"))
    for i in range(counts["rejected"]):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        loc, breaker = breakers[i % len(breakers)]
        breaker(app)
        cases.append(Case(app, "rejected", field=loc))
    for _ in range(counts["info_requested"]):
        app = _app(ref(), rng, rng.choice(COUNTRIES), rng.choice(CONTROLLED))
        app["documents"] = [d for d in app["documents"] if d["kind"] != "end_user_certificate"]
        cases.append(Case(app, "info_requested"))
    auto = [i for i, c in enumerate(cases) if c.expect in ("no_licence_required", "denied")]
    for i in rng.sample(auto, min(len(auto), n - len(cases))):
        cases.append(Case(copy.deepcopy(cases[i].app), cases[i].expect, reason=cases[i].reason, duplicate=True))
    rng.shuffle(cases)
    assert CIVIL_USES and UNCONTROLLED  # the e2e builders are the single source of realistic content
    return cases


def case_id_of(app: dict[str, Any]) -> UUID:
    """The case id intake must assign (same exporter + external reference = same case)."""
    from lanthanide.contracts import Application
    from lanthanide.ids import case_id_for

    parsed = Application.model_validate(app)
    return case_id_for(parsed.exporter_key, parsed.external_reference)


@dataclass
class ChaosPlan:
    """How hard to shake the system."""

    applications: int
    service_kill_every_s: float
    max_service_kills: int | None = None
    broker_kill_at_fraction: float = 0.3  # of the submissions sent
    broker_down_s: float = 8.0
    submit_chunk: int = 100
    submit_pause_s: float = 0.3
    settle_timeout_s: float = 600.0
    seed: int = 20261129


@dataclass
class ChaosReport:
    """What the run counted. `lost`, `duplicated` and `conflicting` must all be zero."""

    applications: int = 0
    valid_cases: int = 0
    rejected_expected: int = 0
    kills: int = 0
    broker_kills: int = 0
    lost: int = 0
    duplicated: int = 0
    conflicting: int = 0
    raw_decision_copies: int = 0  # extra copies of a decision with the same event id
    raw_rejection_copies: int = 0
    raw_webhook_duplicates: int = 0  # deliveries the receiver deduped by X-Lanthanide-Event-Id
    webhooks_distinct: int = 0
    approvals: dict[int, int] = field(default_factory=dict)  # HTTP status -> count of approve calls
    audit_entries: str = ""
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"applications={self.applications} valid_cases={self.valid_cases} "
                f"rejections={self.rejected_expected} kills={self.kills} broker_kills={self.broker_kills} "
                f"lost={self.lost} duplicated={self.duplicated} conflicting={self.conflicting} "
                f"raw_decision_copies={self.raw_decision_copies} raw_rejection_copies={self.raw_rejection_copies} "
                f"raw_webhook_duplicates={self.raw_webhook_duplicates} webhooks={self.webhooks_distinct} "
                f"approve_calls={self.approvals} "
                f"audit=[{self.audit_entries}] wall_s={self.wall_s:.0f}")


class Stack:
    """Every service twice, as OS processes, on one cluster and one PostgreSQL server."""

    def __init__(self, bootstrap: str, postgres_admin_url: str, workdir: Path, secret: str,
                 tokens: dict[str, dict[str, Any]], creds: Credentials | None = None) -> None:
        tag = uuid4().hex[:8]
        self.db_urls = {svc: create_database(postgres_admin_url, f"chaos_{svc}_{tag}") for svc in DB_SERVICES}
        self.env: dict[str, str] = {
            "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LANTHANIDE_KAFKA_REPLICATION_FACTOR": "3",
            "LANTHANIDE_DATA_DIR": str(workdir / "data"),
            "LANTHANIDE_LOG_LEVEL": "INFO",
            "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": secret,
            # The audit ledger's MAC key and checkpoint signing key (Ed25519 seed, hex): per run.
            "LANTHANIDE_AUDIT_LEDGER_KEY": uuid4().hex + uuid4().hex,
            "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY": uuid4().hex + uuid4().hex,
            # The test receiver listens on loopback, which applicants' webhooks may not reach unless allowed.
            "LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
            "LANTHANIDE_NOTIFICATION_RETRY_BASE_DELAY_SECONDS": "0.05",
            "LANTHANIDE_NOTIFICATION_RETRY_MAX_DELAY_SECONDS": "1",
            "LANTHANIDE_REVIEW_OUTBOX_INTERVAL_S": "0.5",
            "LANTHANIDE_REVIEW_TOKENS": json.dumps(tokens),
            "LANTHANIDE_INTAKE_API_KEYS": json.dumps({secret: "chaos"}),
            **{var: self.db_urls[svc] for svc, var in DB_SERVICES.items()},
        }
        # On a secured cluster each service connects as its own principal.
        self.procs = [
            ServiceProcess(svc, env={**self.env, **(service_env(creds, svc) if creds else {})},
                           log_dir=workdir / "logs", instance=i, http_port=free_port())
            for svc in SERVICES for i in range(INSTANCES)
        ]

    def by_service(self, service: str) -> list[ServiceProcess]:
        return [p for p in self.procs if p.service == service]

    def start(self, timeout: float = 180) -> None:
        for p in self.procs:
            p.start()
        for p in self.procs:
            p.wait_http(timeout)

    def stop(self) -> dict[str, int | None]:
        # An instance the controller restarted a moment ago may still be importing, before its
        # SIGTERM handler exists (it would die of the signal, -15): the graceful stop under test
        # is that of running services, so wait until each one serves HTTP first.
        for p in self.procs:
            if p.alive():
                try:
                    p.wait_http(120)
                except (TimeoutError, RuntimeError):
                    pass  # reported through its exit code below
        return {f"{p.service}-{p.instance}": p.stop() for p in self.procs}

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.procs)


class Controller:
    """kill -9 a random service instance every few seconds and restart it; kill one broker once."""

    def __init__(self, stack: Stack, cluster: Any, plan: ChaosPlan, rng: random.Random) -> None:
        self.stack, self.cluster, self.plan, self.rng = stack, cluster, plan, rng
        self.kills = 0
        self.broker_kills = 0
        self.killed: list[str] = []
        self.broker_trigger = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def services(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.plan.service_kill_every_s)
            if self._stop.is_set() or (
                self.plan.max_service_kills is not None and self.kills >= self.plan.max_service_kills
            ):
                return
            victim = self.rng.choice(self.stack.procs)
            await asyncio.to_thread(victim.kill)
            self.kills += 1
            self.killed.append(f"{victim.service}-{victim.instance}")
            try:
                await asyncio.sleep(self.rng.uniform(0.2, 1.5))
            finally:
                # Also when the run ends meanwhile (this task is cancelled): every instance is
                # running again before the final graceful stop, whose exit codes are checked.
                victim.start()

    async def broker(self) -> None:
        await self.broker_trigger.wait()
        if self._stop.is_set():
            return
        node = self.rng.choice(self.cluster.node_ids)
        await asyncio.to_thread(self.cluster.kill_node, node)
        self.broker_kills += 1
        try:
            await asyncio.sleep(self.plan.broker_down_s)
        finally:
            self.cluster.start_node(node)


class Approver:
    """A reviewer approving queued civilian cases through whichever review instance answers."""

    def __init__(self, stack: Stack, token: str, wanted: set[UUID]) -> None:
        self.ports = [p.http_port for p in stack.by_service("review")]
        self.auth = {"Authorization": f"Bearer {token}"}
        self.pending = {str(c) for c in wanted}
        self.answers: Counter[int] = Counter()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while self.pending:
                for port in self.ports:
                    base = f"http://127.0.0.1:{port}"
                    try:
                        resp = await http.get(f"{base}/queue", headers=self.auth)
                        if resp.status_code != 200:
                            continue
                        queued = {str(item["case_id"]) for item in resp.json()} & self.pending
                        for case_id in queued:
                            r = await http.post(f"{base}/cases/{case_id}/approve", headers=self.auth,
                                                json={"licence_type": "single", "conditions": ["no re-export"]})
                            self.answers[r.status_code] += 1
                            # 409 already_decided: an earlier attempt committed before its instance died.
                            if r.status_code in (200, 409):
                                self.pending.discard(case_id)
                    except httpx.HTTPError:
                        continue  # that instance is being killed: try the other one
                await asyncio.sleep(1.0)


async def read_all(bootstrap: str, topics: list[str], creds: Credentials | None = None) -> dict[str, list[Any]]:
    """Every envelope of the topics, as a read_committed reader without a group sees them."""
    out: dict[str, list[Any]] = defaultdict(list)
    settings = creds.settings("auditor") if creds else None
    async with LanthanideClient(bootstrap, client_id="chaos-audit", settings=settings) as client:
        for topic in topics:
            async for env in client.read_topics([topic]):
                out[topic].append(env)
    return out


async def run_chaos(plan: ChaosPlan, cluster: Any, postgres_admin_url: str, workdir: Path,
                    creds: Credentials | None = None) -> ChaosReport:
    """Run the plan and count; raises nothing on bad counts (the caller asserts). With `creds`
    (a secured cluster) services, submitter and readers use their own principals."""
    started = time.monotonic()
    rng = random.Random(plan.seed)
    tag = f"CH{uuid4().hex[:6].upper()}"
    cases = build_chaos_mix(plan.applications, plan.seed, tag)
    secret = uuid4().hex
    reviewer = "rev-" + uuid4().hex
    bootstrap = cluster.bootstrap_servers
    # create_database runs its own event loop: build the stack off this one.
    stack = await asyncio.to_thread(Stack, bootstrap, postgres_admin_url, workdir, secret,
                                    {reviewer: {"user": "alice", "roles": ["reviewer"]}}, creds)
    report = ChaosReport(applications=len(cases))
    valid = [c for c in cases if c.expect != "rejected"]
    case_of = {id(c): case_id_of(c.app) for c in valid}
    manual = {case_of[id(c)] for c in valid if c.expect == "approve_manually"}
    expect_outcome: dict[UUID, str] = {}
    for c in valid:
        if c.expect != "info_requested":
            expect_outcome[case_of[id(c)]] = "approved" if c.expect == "approve_manually" else c.expect
    incomplete = {case_of[id(c)] for c in valid if c.expect == "info_requested"}
    report.valid_cases = len(set(case_of.values()))
    rejected_refs = {c.app["external_reference"] for c in cases if c.expect == "rejected"}
    report.rejected_expected = len(rejected_refs)

    hook = WebhookReceiver()
    # Rejections reach only registered subscriptions: the receiver is registered for them.
    subscriptions = str(hook.subscription_file(workdir / "subscriptions.yaml"))
    for proc in stack.by_service("notification"):
        proc.env = {**proc.env, "LANTHANIDE_NOTIFICATION_SUBSCRIPTIONS_FILE": subscriptions}
    async with hook:
        for c in cases:
            c.app["contact"] = {"webhook_url": hook.url}
        await asyncio.to_thread(stack.start)
        controller = Controller(stack, cluster, plan, rng)
        approver = Approver(stack, reviewer, manual)
        tasks = [asyncio.create_task(controller.services()), asyncio.create_task(controller.broker()),
                 asyncio.create_task(approver.run())]
        topics = [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED, Topics.DECISIONS]
        try:
            async with TopicCollector(bootstrap, topics, settings=creds.settings("admin") if creds else None) as seen, \
                    LanthanideClient(bootstrap, settings=creds.settings("submitter") if creds else None) as client:
                sent = 0
                for start in range(0, len(cases), plan.submit_chunk):
                    chunk = cases[start:start + plan.submit_chunk]
                    await client.submit_many([c.app for c in chunk])
                    sent += len(chunk)
                    if sent >= plan.broker_kill_at_fraction * len(cases):
                        controller.broker_trigger.set()
                    await asyncio.sleep(plan.submit_pause_s)

                def settled(c: TopicCollector) -> bool:
                    decided = {e.case_id for e in c.envelopes(Topics.DECISIONS)}
                    rejected = {e.payload.external_reference for e in c.envelopes(Topics.APPLICATIONS_REJECTED)}
                    return set(expect_outcome) <= decided and rejected_refs <= rejected

                try:
                    await seen.wait_for(settled, plan.settle_timeout_s, "every decision and rejection")
                    wanted = {str(e.event_id) for e in seen.envelopes(Topics.DECISIONS)}
                    wanted |= {str(e.event_id) for e in seen.envelopes(Topics.APPLICATIONS_REJECTED)}
                    await seen.wait_for(
                        lambda _c: wanted <= {r.headers.get("x-lanthanide-event-id") for r in hook.received},
                        plan.settle_timeout_s / 2, "webhook deliveries",
                    )
                except TimeoutError as exc:
                    report.problems.append(str(exc))
        finally:
            controller.stop()
            controller.broker_trigger.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            report.kills, report.broker_kills = controller.kills, controller.broker_kills
            # Give the survivors a moment to finish deliveries, then stop everything gracefully.
            await asyncio.sleep(2)
            codes = await asyncio.to_thread(stack.stop)
            if any(code not in (0, None) for code in codes.values()):
                report.problems.append(f"exit codes after SIGTERM: {codes}")
        _count(report, await read_all(bootstrap, [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED,
                                                   Topics.CASE_EVENTS, Topics.DECISIONS], creds),
               hook, expect_outcome, incomplete, rejected_refs, set(case_of.values()))
    # A pending case whose approval committed just before the approver was cancelled is not a
    # problem; a manual case without a decision is already counted as lost above.
    report.approvals = dict(approver.answers)
    verify = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lanthanide_cli", "audit", "verify", "--checkpoints", "stored"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "LANTHANIDE_AUDIT_DB_URL": stack.db_urls["audit"],
             **{k: v for k, v in stack.env.items() if k.startswith("LANTHANIDE_AUDIT_")}},
    )
    report.audit_entries = " ".join(verify.stdout.split())[:200]
    if verify.returncode != 0:
        report.problems.append(f"audit verify failed: {verify.stdout[-1000:]} {verify.stderr[-1000:]}")
    report.wall_s = time.monotonic() - started
    (workdir / "report.txt").write_text(report.line() + "\n" + "\n".join(report.problems))
    return report


def _count(report: ChaosReport, topics: dict[str, list[Any]], hook: WebhookReceiver,
           expect_outcome: dict[UUID, str], incomplete: set[UUID], rejected_refs: set[str],
           valid_cases: set[UUID]) -> None:
    """Lost, duplicated and conflicting, from what a read_committed reader sees."""
    accepted_cases = {e.case_id for e in topics[Topics.APPLICATIONS_ACCEPTED]}
    stray = accepted_cases - valid_cases
    missing_cases = valid_cases - accepted_cases
    if stray:
        report.duplicated += len(stray)
        report.problems.append(f"{len(stray)} cases that no application asked for")
    report.lost += len(missing_cases)

    decisions: dict[UUID, list[Any]] = defaultdict(list)
    for e in topics[Topics.DECISIONS]:
        decisions[e.case_id].append(e)
    for case_id, want in expect_outcome.items():
        got = decisions.get(case_id, [])
        if not got:
            report.lost += 1
            continue
        ids = {e.payload.decision_id for e in got}
        outcomes = {e.payload.outcome.value for e in got}
        if len(ids) > 1 or len(outcomes) > 1:
            report.conflicting += 1
        elif outcomes != {want}:
            report.conflicting += 1
            report.problems.append(f"case {case_id}: {outcomes} instead of {want}")
        report.raw_decision_copies += len(got) - len({e.event_id for e in got})
        if len({e.event_id for e in got}) > 1:
            report.duplicated += 1
    undecided_decided = incomplete & set(decisions)
    if undecided_decided:
        report.conflicting += len(undecided_decided)
        report.problems.append(f"{len(undecided_decided)} incomplete applications were decided")
    asked = {e.case_id for e in topics[Topics.CASE_EVENTS] if e.payload.kind.value == "info_requested"}
    report.lost += len(incomplete - asked)

    rejections: dict[str, list[Any]] = defaultdict(list)
    for e in topics[Topics.APPLICATIONS_REJECTED]:
        rejections[e.payload.external_reference].append(e)
    for ref in rejected_refs:
        got = rejections.get(ref, [])
        if not got:
            report.lost += 1
            continue
        report.raw_rejection_copies += len(got) - len({e.event_id for e in got})
        if len({e.event_id for e in got}) > 1:
            report.duplicated += 1
    stray_rejections = set(rejections) - rejected_refs
    if stray_rejections:
        report.conflicting += len(stray_rejections)
        report.problems.append(f"valid applications rejected: {sorted(stray_rejections)[:5]}")

    delivered = Counter(r.headers.get("x-lanthanide-event-id") for r in hook.received)
    report.webhooks_distinct = len(delivered)
    report.raw_webhook_duplicates = sum(n - 1 for n in delivered.values())
    wanted = {str(e.event_id) for e in topics[Topics.DECISIONS]}
    wanted |= {str(e.event_id) for e in topics[Topics.APPLICATIONS_REJECTED]}
    undelivered = wanted - set(delivered)
    report.lost += len(undelivered)
    if undelivered:
        report.problems.append(f"{len(undelivered)} decisions/rejections never reached the webhook")
    bodies_ok = all(orjson.loads(r.body).get("event_id") == r.headers.get("x-lanthanide-event-id")
                    for r in hook.received)
    if not bodies_ok:
        report.problems.append("a webhook body's event_id differs from its X-Lanthanide-Event-Id header")
