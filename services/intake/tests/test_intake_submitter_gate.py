"""The gate of a Kafka submitter's own topic (issue 14, part 3): the identity is the topic, so
what the sender writes in the envelope (its case id) or the payload (another exporter) cannot
widen what it may submit."""

from __future__ import annotations

from uuid import uuid4

from lanthanide.contracts import Application
from lanthanide.events import EventFactory
from lanthanide.ids import case_id_for
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics
from lanthanide_intake.domain.submitters import RULE_SUBMITTER_EXPORTER
from lanthanide_intake.service_layer.handlers import Submissions
from lanthanide_intake.settings import IntakeSettings

OTHER_EXPORTER = {"role": "exporter", "name": "Baotou Example Magnet Co., Ltd.", "country": "CN",
                  "identifiers": {"uscc": "91150200MA0XXXXB2B"}}


def _gate() -> Submissions:
    """The use cases of a Kafka submitter's own topic (the registry's `gated` route)."""
    settings = IntakeSettings(kafka_submitters={"erp-a": ["uscc:91360700MA35XXXX1A"]})
    [grant] = settings.kafka_grants().values()
    return Submissions(EventFactory("intake"), settings.topic, grant)


async def test_its_own_exporters_go_on_to_the_shared_topic_under_their_own_case() -> None:
    app = Application.model_validate(civilian_application("GATE-1"))
    someone_elses_case = case_id_for("uscc:91150200MA0XXXXB2B", "GATE-1")
    sent = EventFactory("client").new("application.submitted", app, case_id=someone_elses_case)
    [out] = await _gate().handle(sent)
    assert out.topic == Topics.APPLICATIONS_SUBMITTED
    assert out.envelope.event_id == sent.event_id
    assert out.envelope.case_id == case_id_for(app.exporter_key, "GATE-1") != someone_elses_case
    assert out.headers == {"lanthanide_submitter": "kafka:erp-a"}  # stamped: who, from the topic


async def test_another_exporter_is_rejected_with_the_rule_and_told_to_nobody() -> None:
    app = Application.model_validate(civilian_application("GATE-2", exporter=OTHER_EXPORTER,
                                                          contact={"email": "x@example.org"}))
    sent = EventFactory("client").new("application.submitted", app, correlation_id=uuid4())
    [out] = await _gate().handle(sent)
    assert out.topic == Topics.APPLICATIONS_REJECTED
    assert out.envelope.case_id is None and out.envelope.causation_id == sent.event_id
    rejected = out.envelope.payload
    assert rejected.contact is None and rejected.exporter_name is None
    assert [(e.loc, e.type, e.rule_id) for e in rejected.errors] == [
        ("exporter", "exporter_not_authorised", RULE_SUBMITTER_EXPORTER)]


def test_a_submitter_name_must_make_a_topic_name() -> None:
    import pytest
    from pydantic import ValidationError

    for bad in ("Acme ERP", "dlq", "a.b", ""):
        with pytest.raises(ValidationError):
            IntakeSettings(kafka_submitters={bad: ["*"]})
    with pytest.raises(ValidationError):
        IntakeSettings(kafka_submitters={"erp": []})
