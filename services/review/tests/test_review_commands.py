"""Reviewer actions as commands (issue 11 item 3): built without HTTP, dispatched through one
registry, logged by name, case and actor (never their free text), and replayable: the same
commands against another service over the same screening give the same case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog
from lanthanide.contracts import DecisionOutcome, Route
from lanthanide_review.adapters.store import Store
from lanthanide_review.bootstrap import build_service
from lanthanide_review.domain.model import Recommendation
from lanthanide_review.domain.roles import Actor, Forbidden, Role
from lanthanide_review.domain.states import CaseState
from lanthanide_review.service_layer import commands as cmd
from lanthanide_review.service_layer.handlers import ReviewService
from lanthanide_review.settings import ReviewSettings

SCREENING = "lanthanide.screening.completed"
ALICE = Actor("alice", frozenset({Role.REVIEWER}))
SENIOR = Actor("sam", frozenset({Role.REVIEWER, Role.SENIOR_REVIEWER}))


@pytest.fixture
async def services(tmp_path: Any) -> AsyncIterator[list[ReviewService]]:
    out = []
    for name in ("first", "replay"):
        store = Store(f"sqlite+aiosqlite:///{tmp_path / name}.db")
        await store.migrate()
        out.append(build_service(ReviewSettings(), store))
    try:
        yield out
    finally:
        for service in out:
            await service.store.dispose()


def test_every_command_has_a_handler_and_a_name() -> None:
    kinds = [c for c in vars(cmd).values()
             if isinstance(c, type) and issubclass(c, cmd.Command) and c is not cmd.Command]
    assert set(kinds) == set(cmd.COMMAND_HANDLERS)
    assert {k.name for k in kinds} == {"claim", "request-information", "escalate", "recommend", "countersign",
                                       "approve", "deny", "withdraw", "manage-licence"}


async def test_commands_run_without_http_are_logged_and_replay_to_the_same_case(
    services: list[ReviewService], screening: Any
) -> None:
    first, replay = services
    env = screening(Route.ENHANCED)
    case_id = env.case_id
    rec = Recommendation(by=ALICE.user, outcome=DecisionOutcome.APPROVED)
    script: list[cmd.Command] = [
        cmd.Claim(case_id, ALICE),
        cmd.Recommend(case_id, ALICE, rec),
        cmd.Countersign(case_id, SENIOR, agree=True, note="agreed, see file 7"),
    ]
    with structlog.testing.capture_logs() as logs:
        for service in (first, replay):
            await service.handle(env, SCREENING)
            for command in script:
                await service.execute(command)
    done = [e for e in logs if e["event"] == "command_executed"]
    assert [(e["command"], e["actor"]) for e in done[:3]] == [("claim", "alice"), ("recommend", "alice"),
                                                               ("countersign", "sam")]
    assert all("agreed" not in str(e) for e in done)  # free text stays out of the log
    assert all(e["case_id"] == str(case_id) and e["correlation_id"] == str(env.correlation_id) for e in done)
    a, _, _ = await first.get_case(case_id)
    b, _, _ = await replay.get_case(case_id)
    assert a.state is b.state is CaseState.APPROVED
    assert a.licence_number is not None and b.licence_number is not None
    assert a.recommendation == b.recommendation


async def test_a_command_keeps_the_domain_rules(services: list[ReviewService], screening: Any) -> None:
    """The same four-eyes rule as over HTTP: the recommender cannot countersign."""
    service = services[0]
    env = screening(Route.ENHANCED)
    await service.handle(env, SCREENING)
    await service.execute(cmd.Claim(env.case_id, SENIOR))
    await service.execute(cmd.Recommend(env.case_id, SENIOR, Recommendation(by=SENIOR.user,
                                                                             outcome=DecisionOutcome.APPROVED)))
    with pytest.raises(Forbidden) as refused:
        await service.execute(cmd.Countersign(env.case_id, SENIOR, agree=True))
    assert refused.value.rule_id == "REV-FOUR-EYES-SAME-PERSON"
