"""The reviewer console in a real headless Chromium against the running stack (a real secured
broker, every service as its own OS process). Saves the screenshots under docs/console/.

Scenario: a reviewer signs in, opens the case a submitted application created, sees its hits and
red flags and requests information; the applicant's amendment brings it back as version 2 (what
changed is on the page); the reviewer records the watch-list hit as a false positive, which waits
for a senior reviewer, and a senior reviewer approves it from the pending list; he recommends
the enhanced case, is refused when countersigning it himself, and a different senior
reviewer countersigns; an auditor sees everything and can change nothing; a form posted without
its CSRF token is refused.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from lanthanide.client import LanthanideClient
from lanthanide.kafka_secure import Credentials
from lanthanide.testing.factories import civilian_application
from lanthanide.testing.kafka import service_env
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
# Per-run credentials: nothing secret in the repo.
ALICE, BOB, CAROL, DAVE = (f"{who}-{uuid4().hex}" for who in ("alice", "bob", "carol", "dave"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium_or_fail() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


def _application(ref: str) -> dict[str, Any]:
    """A controlled item for a watch-list end user, with military words in the end-use text:
    enhanced review with list hits and a red flag (never an automatic decision)."""
    app = civilian_application(ref)
    app["parties"][1]["name"] = "SUBARU Corporation"
    app["parties"][1]["country"] = "JP"
    app["end_use"] = {"category": "industrial",
                      "description": "Actuator magnets; the buyer also supplies guidance fins for missile programmes"}
    for doc in app["documents"]:
        if doc["kind"] == "end_user_certificate":
            doc["states_end_user"] = "SUBARU Corporation"
    # A watch-list party needs these two, or the application is incomplete before any review.
    issued = app["documents"][0]["issued_on"]
    app["documents"] += [{"kind": "risk_assessment", "reference": f"RA-{ref}", "issued_on": issued},
                         {"kind": "compliance_commitment", "reference": f"CC-{ref}", "issued_on": issued}]
    return app


@pytest.fixture
async def stack(secure_kafka: Credentials, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    ports = {name: free_port() for name in SERVICES}
    env = {
        "LANTHANIDE_DATA_DIR": str(tmp_path / "data"),
        "LANTHANIDE_LOG_LEVEL": "INFO",
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": uuid4().hex,
        "LANTHANIDE_REVIEW_TOKENS": json.dumps({
            ALICE: {"user": "alice", "roles": ["reviewer"]},
            BOB: {"user": "bob", "roles": ["senior_reviewer"]},
            CAROL: {"user": "carol", "roles": ["senior_reviewer"]},
            DAVE: {"user": "dave", "roles": ["auditor"]},
        }),
        # The test stack serves plain HTTP on loopback.
        "LANTHANIDE_REVIEW_CONSOLE_COOKIE_SECURE": "false",
        "LANTHANIDE_INTAKE_API_KEYS": json.dumps({uuid4().hex: "e2e"}),
    }
    procs = [ServiceProcess(name, env={**env, **service_env(secure_kafka, name)}, log_dir=tmp_path / "logs",
                            http_port=ports[name]) for name in SERVICES]
    for p in procs:
        p.start()
    try:
        for p in procs:
            if p.service in ("intake", "review"):
                p.wait_http(90)
        yield {"review": f"http://127.0.0.1:{ports['review']}", "creds": secure_kafka, "procs": procs}
    finally:
        codes = {p.service: p.stop() for p in procs}
    assert all(code == 0 for code in codes.values()), (
        codes, {p.service: p.log_text()[-2000:] for p in procs if codes[p.service] != 0})


async def test_reviewer_console_in_chromium(stack: dict[str, Any]) -> None:
    _chromium_or_fail()
    from playwright.async_api import Page, async_playwright

    base = stack["review"] + "/console"
    ref = f"CON-{uuid4().hex[:8].upper()}"
    app = _application(ref)
    async with LanthanideClient(settings=stack["creds"].settings("submitter")) as client:
        (receipt,) = await client.submit_many([app])
    case_id = str(receipt.case_id)
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    SHOTS.mkdir(parents=True, exist_ok=True)

    async def sign_in(page: Page, token: str) -> None:
        await page.goto(f"{base}/login")
        await page.get_by_label("Access token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{base}/")

    async def until_state(page: Page, *states: str, timeout: float = 120) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await page.goto(f"{base}/cases/{case_id}")
            if await page.locator("#state").count():
                state = await page.inner_text("#state")
                if state in states:
                    return state
            if loop.time() > deadline:
                raise AssertionError(f"case {case_id} never reached {states}: {await page.content()}")
            await asyncio.sleep(1)

    async def post_raw(page: Page, action: str, with_csrf: bool) -> tuple[int, str]:
        token = await page.locator('input[name="csrf_token"]').first.get_attribute("value")
        form = {"csrf_token": token or ""} if with_csrf else {}
        resp = await page.request.post(f"{base}/cases/{case_id}/{action}", form=form, max_redirects=0)
        return resp.status, await resp.text()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=ARGS, viewport={"width": 1360, "height": 900})
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            # Not signed in: the console sends you to the sign-in page.
            await page.goto(f"{base}/")
            assert page.url.endswith("/console/login")

            # --- alice, reviewer: the queue, the case, its hits and red flags; request information.
            await sign_in(page, ALICE)
            await until_state(page, "queued", timeout=90)
            await page.goto(f"{base}/?q={ref}")
            row = page.locator(f'tr[data-case="{case_id}"]')
            assert "enhanced" in await row.inner_text()
            await page.goto(f"{base}/")
            await page.screenshot(path=str(SHOTS / "queue.png"), full_page=False)
            await page.goto(f"{base}/cases/{case_id}")
            hits = await page.inner_text("#parties")
            assert "SUBARU" in hits and "watch" in hits and "list version" in hits
            flags = await page.inner_text("#red-flags")
            assert "SCR-FLAG-TEXT-MILITARY" in flags
            await page.locator("#form-claim button").click()
            assert await page.inner_text("#state") == "under_review"
            await page.get_by_label("What is missing (one per line)").fill("risk_assessment")
            await page.get_by_label("Message to the applicant").fill("Please add a risk assessment.")
            await page.get_by_role("button", name="Request information").click()
            assert await page.inner_text("#state") == "info_requested"
            # A form posted without its CSRF token is refused, and changes nothing.
            status, body = await post_raw(page, "escalate", with_csrf=False)
            assert status == 403 and "CONSOLE-CSRF" in body

            # --- the applicant amends: the case comes back to alice as a new version.
            amended = copy.deepcopy(app)
            amended["items"][0]["quantity"] = str(int(float(amended["items"][0]["quantity"])) + 1)
            async with LanthanideClient(settings=stack["creds"].settings("submitter")) as client:
                await client.submit_many([amended])
            await until_state(page, "under_review", "queued")
            assert await page.inner_text("#app-version") == "2"
            # The versions table says what the amendment changed, field by field.
            assert "items[0].quantity" in await page.inner_text('#versions tr[data-version="2"]')

            # --- alice records the watch-list hit as a false positive: a certain match, so it
            # waits for a senior reviewer other than her.
            subaru = page.locator("#parties tr", has_text="SUBARU")
            await subaru.locator("details summary").first.click()
            form = subaru.locator("form.form-disposition").first
            await form.get_by_label("Why is it a false positive?").fill("Different SUBARU entity: other register no.")
            await form.get_by_role("button").click()
            assert "disposition-pending" in await page.inner_text("#done")
            assert "pending" in await page.inner_text("#dispositions .status")

            # --- bob (senior) approves alice's disposition from the pending list.
            await sign_in(page, BOB)
            await page.goto(f"{base}/dispositions")
            await page.screenshot(path=str(SHOTS / "dispositions.png"), full_page=False)
            pending = page.locator("#pending-dispositions tr", has_text="alice")
            await pending.get_by_role("button", name="Approve").click()
            assert "disposition-approved" in await page.inner_text("#done")
            await page.goto(f"{base}/cases/{case_id}")
            assert await page.inner_text("#dispositions .status") == "recorded"
            assert "alice" in await page.inner_text("#dispositions") and "bob" in await page.inner_text("#dispositions")
            await page.screenshot(path=str(SHOTS / "case.png"), full_page=True)

            # --- bob recommends; his own countersignature is refused on the page.
            await page.locator("#form-recommend").get_by_label("Note").fill("civil actuators; risk assessment received")
            await page.locator("#form-recommend button").click()
            assert await page.inner_text("#state") == "awaiting_countersign"
            await page.locator("#form-countersign button").click()
            refusal = await page.inner_text("#refusal")
            assert "REV-FOUR-EYES-SAME-PERSON" in refusal
            assert await page.inner_text("#state") == "awaiting_countersign"

            # --- dave, auditor: sees everything, can change nothing.
            await sign_in(page, DAVE)
            await page.goto(f"{base}/cases/{case_id}")
            assert await page.locator("#read-only").count() == 1
            assert await page.locator("#form-countersign").count() == 0
            assert "SUBARU" in await page.inner_text("#parties")
            assert "info_requested" in await page.inner_text("#timeline")
            status, body = await post_raw(page, "countersign", with_csrf=True)
            assert status == 403 and "REV-ROLE-REQUIRED" in body
            await page.goto(f"{base}/dashboard")
            assert await page.locator("svg").count() >= 1

            # --- carol, another senior reviewer, countersigns: approved, with a licence.
            await sign_in(page, CAROL)
            await page.goto(f"{base}/cases/{case_id}")
            await page.locator("#form-countersign button").click()
            assert await page.inner_text("#state") == "approved"
            assert "Licence " in await page.inner_text("#h-licence")
            await page.goto(f"{base}/dashboard")
            assert "approved" in await page.inner_text("#h-per-day + p")
            await page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
            # Signing out ends the session.
            await page.get_by_role("button", name="Sign out").click()
            await page.goto(f"{base}/cases/{case_id}")
            assert page.url.endswith("/console/login")
        finally:
            await browser.close()
            shutil.rmtree(profile, ignore_errors=True)
    # The JSON API agrees: one decision, by bob, countersigned by carol.
    async with httpx.AsyncClient(base_url=stack["review"], timeout=30) as api:
        view = (await api.get(f"/cases/{case_id}", headers={"Authorization": f"Bearer {DAVE}"})).json()
    assert view["state"] == "approved" and view["decided_by"] == "bob" and view["application_version"] == 2
    assert not any(h["actor"] == "dave" for h in view["history"])
