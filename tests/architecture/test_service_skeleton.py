"""One service skeleton (issue 11 item 1): every service's `bootstrap.bootstrap(settings=None, *,
broker=None, store=None, clock=None)` returns the `lanthanide.runtime.ServiceApp` its `__main__`
runs, wired on the broker, store and clock it is given (tests pass in-memory ones); a part a
service does not have (intake's store, a clock that is not injectable) is refused, not ignored.
Every service's `service_layer/handlers.py` has a non-empty `EVENT_HANDLERS` keyed by payload
(or record) type, and the service's broker subscriptions are exactly what that registry derives."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lanthanide.kafka import make_broker
from lanthanide.runtime import ServiceApp
from lanthanide.settings import KafkaSettings

SERVICES = ("intake", "screening", "review", "notification", "audit")
FIXED = datetime(2026, 12, 3, 1, 2, 3, tzinfo=UTC)


def _settings(service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LANTHANIDE_DATA_DIR", str(tmp_path / service))
    settings_module = importlib.import_module(f"lanthanide_{service}.settings")
    cls = next(
        v for k, v in vars(settings_module).items()
        if k.endswith("Settings") and k.lower().startswith(service) and inspect.isclass(v)
    )
    return cls()


@pytest.mark.parametrize("service", SERVICES)
def test_every_bootstrap_has_the_same_signature(service: str) -> None:
    module = importlib.import_module(f"lanthanide_{service}.bootstrap")
    params = inspect.signature(module.bootstrap).parameters
    assert list(params) == ["settings", "broker", "store", "clock"]
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("broker", "store", "clock"))
    assert all(p.default is None for p in params.values())
    assert module.service_app is module.bootstrap  # what __main__ runs


@pytest.mark.parametrize("service", SERVICES)
def test_bootstrap_wires_the_broker_it_is_given(service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module(f"lanthanide_{service}.bootstrap")
    broker = make_broker(KafkaSettings(), f"{service}-skeleton-test")
    app = module.bootstrap(_settings(service, tmp_path, monkeypatch), broker=broker)
    assert isinstance(app, ServiceApp)
    assert app.name == service and app.broker is broker
    assert app.broker._subscribers  # the stages are subscribed on it


def test_review_and_notification_run_on_the_clock_they_are_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lanthanide_notification.bootstrap import build as build_notification
    from lanthanide_review.bootstrap import build as build_review

    review = build_review(_settings("review", tmp_path, monkeypatch), clock=lambda: FIXED)
    assert review.service.clock() == FIXED
    assert review.service.today() == FIXED.astimezone(review.service.tz).date()
    notification = build_notification(_settings("notification", tmp_path, monkeypatch), clock=lambda: FIXED)
    assert notification.service.clock() == FIXED and notification.worker.clock() == FIXED


@pytest.mark.parametrize(("service", "part"), [("intake", "store"), ("intake", "clock"), ("screening", "clock"),
                                               ("audit", "clock")])
def test_a_part_a_service_does_not_take_is_refused(
    service: str, part: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module(f"lanthanide_{service}.bootstrap")
    given = {part: (lambda: FIXED) if part == "clock" else object()}
    with pytest.raises(TypeError, match=r"not injectable|no store"):
        module.bootstrap(_settings(service, tmp_path, monkeypatch), **given)


# ---------------------------------------------------------------- the registry (issue 11 item 1)
# Every service says in one place, service_layer/handlers.py EVENT_HANDLERS, which payload type it
# handles on which catalogue topic and with which use case; its broker subscriptions derive from
# that registry. `_derived` is what each registry derives, as (deployment topic, consumer group).
# Intake is given a Kafka submitter so that its gated topic is derived too.

PREFIX = "sk."


def _skeleton_settings(service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(f"LANTHANIDE_{service.upper()}_TOPIC_PREFIX", PREFIX)
    if service == "intake":
        monkeypatch.setenv("LANTHANIDE_INTAKE_KAFKA_SUBMITTERS", '{"erp-a": ["*"]}')
    return _settings(service, tmp_path, monkeypatch)


def _derived(service: str, settings: Any) -> set[tuple[str, str]]:
    handlers = importlib.import_module(f"lanthanide_{service}.service_layer.handlers")
    if service == "intake":
        return {(s.topic, s.group_id) for s in handlers.subscriptions(settings)}
    if service == "screening":
        from lanthanide_screening.entrypoints.stage import group_id

        return {(settings.topic(t), group_id(settings, group))
                for group, topics in handlers.subscriptions().items() for t in topics}
    return {(settings.topic(t), settings.group_id) for t in handlers.input_topics()}


def _subscribed(broker: Any) -> set[tuple[str, str]]:
    return {(topic, sub.group_id) for sub in broker._subscribers for topic in sub.topic_names}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_registry_of_payload_types(service: str) -> None:
    handlers = importlib.import_module(f"lanthanide_{service}.service_layer.handlers")
    registry = handlers.EVENT_HANDLERS
    assert isinstance(registry, dict) and registry, f"{service}: EVENT_HANDLERS is missing or empty"
    assert all(inspect.isclass(key) for key in registry), f"{service}: every key of EVENT_HANDLERS is a type"


@pytest.mark.parametrize("service", SERVICES)
def test_the_subscriptions_are_exactly_what_the_registry_derives(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module(f"lanthanide_{service}.bootstrap")
    settings = _skeleton_settings(service, tmp_path, monkeypatch)
    broker = make_broker(KafkaSettings(), f"{service}-skeleton-registry")
    module.bootstrap(settings, broker=broker)
    expected = _derived(service, settings)
    assert expected and all(topic.startswith(PREFIX) for topic, _ in expected)
    assert _subscribed(broker) == expected


@pytest.mark.parametrize("service", SERVICES)
def test_a_smaller_registry_subscribes_less(service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The subscriptions follow the registry (none is listed a second time elsewhere): with only
    its first entry (audit: its one entry on one topic) a service subscribes to that alone."""
    handlers = importlib.import_module(f"lanthanide_{service}.service_layer.handlers")
    module = importlib.import_module(f"lanthanide_{service}.bootstrap")
    settings = _skeleton_settings(service, tmp_path, monkeypatch)
    full = _derived(service, settings)
    registry = handlers.EVENT_HANDLERS
    first, *rest = registry
    for key in rest:
        monkeypatch.delitem(registry, key)
    if service == "audit":
        monkeypatch.setitem(registry, first, replace(registry[first], topics=registry[first].topics[:1]))
    if service == "intake":  # its one entry: without it intake reads nothing, not even the gated topics
        monkeypatch.delitem(registry, first)
    broker = make_broker(KafkaSettings(), f"{service}-skeleton-smaller")
    module.bootstrap(settings, broker=broker)
    smaller = _derived(service, settings)
    assert smaller < full
    assert _subscribed(broker) == smaller
