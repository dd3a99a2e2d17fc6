"""One service skeleton (issue 11 item 1): every service's `bootstrap.bootstrap(settings=None, *,
broker=None, store=None, clock=None)` returns the `lanthanide.runtime.ServiceApp` its `__main__`
runs, wired on the broker, store and clock it is given (tests pass in-memory ones); a part a
service does not have (intake's store, a clock that is not injectable) is refused, not ignored."""

from __future__ import annotations

import importlib
import inspect
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
