"""An API key submits only for the exporters an operator bound it to (issue: nobody alone can
change a decision, part 3): case ids can be computed from public inputs, so without this any
submitter could resubmit another exporter's case and take over its notifications."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from lanthanide.events import EventFactory
from lanthanide.testing.factories import civilian_application
from lanthanide_intake.entrypoints.http import create_app
from lanthanide_intake.settings import IntakeSettings


class _Recorder:
    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, items: Any) -> None:
        self.published.extend(items)


def _client(publisher: _Recorder, **keys: Any) -> httpx.AsyncClient:
    settings = IntakeSettings(api_keys=keys)
    app = create_app(settings, publisher, EventFactory("intake"))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


async def test_a_key_submits_only_for_its_own_exporters() -> None:
    app = civilian_application("PO-ID-1")
    mine = {"submitter": "ganzhou-erp", "exporters": [app["exporter"]["name"]]}
    other = {"submitter": "other-erp", "exporters": ["uscc:000000000000000000"]}
    publisher = _Recorder()
    async with _client(publisher, k_mine=mine, k_other=other, k_legacy="upstream-hub") as client:
        refused = await client.post("/applications", json=app, headers={"X-API-Key": "k_other"})
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["type"] == "exporter_not_authorised"
        assert publisher.published == []
        ok = await client.post("/applications", json=app, headers={"X-API-Key": "k_mine"})
        assert ok.status_code == 202 and ok.json()["submitted_by"] == "ganzhou-erp"
        # The older form of the setting is an upstream system for every exporter.
        legacy = await client.post("/applications", json=app, headers={"X-API-Key": "k_legacy"})
        assert legacy.status_code == 202
    assert len(publisher.published) == 2
    # Stamped on the shared topic with the key's submitter, never the key itself.
    assert [o.headers for o in publisher.published] == [
        {"lanthanide_submitter": "api-key:ganzhou-erp"}, {"lanthanide_submitter": "api-key:upstream-hub"}]


async def test_wrong_keys_are_logged_without_the_key_and_rate_limited() -> None:
    publisher = _Recorder()
    async with _client(publisher, k_mine="erp") as client:
        with structlog.testing.capture_logs() as logs:
            codes = [
                (await client.post("/applications", json={}, headers={"X-API-Key": f"guess-{i}"})).status_code
                for i in range(15)
            ]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    assert sum(e["event"] == "auth_failed" for e in logs) == 10
    assert not any("guess-" in str(v) for e in logs for v in e.values())
