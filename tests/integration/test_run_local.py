"""`make run`'s pieces: the local mail sink keeps every e-mail as an .eml file, and the banner
shows the settings actually passed to the services (not the defaults)."""

from __future__ import annotations

import importlib.util
import smtplib
import socket
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_local():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("run_local", REPO / "deploy" / "run_local.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_mail_sink_keeps_each_message_as_an_eml_file(tmp_path: Path) -> None:
    run_local = _run_local()
    port = _free_port()
    sink = run_local.start_mail_sink(tmp_path / "mail", port)
    try:
        for n in (1, 2):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "no-reply@lanthanide.local", "a@example.com", f"Decision {n}"
            msg.set_content("Your application was approved.")
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.send_message(msg)
        deadline = time.monotonic() + 30
        while len(list((tmp_path / "mail").glob("*.eml"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sink.stop()
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    assert "Subject: Decision 1" in files[0].read_text() and "Subject: Decision 2" in files[1].read_text()


def test_the_banner_shows_the_settings_in_effect(tmp_path: Path) -> None:
    run_local = _run_local()
    ports = {"intake": "18081", "review": "18082", "notification": "18083", "audit": "18084", "screening": "18085"}
    env = {"LANTHANIDE_NOTIFICATION_SMTP_HOST": "127.0.0.1", "LANTHANIDE_NOTIFICATION_SMTP_PORT": "18025",
           "LANTHANIDE_LOG_FORMAT": "console"}
    tokens = {"tok": {"user": "alice", "roles": ["reviewer"]}}
    text = run_local.banner("127.0.0.1:19392", tmp_path, ports, "KEY", tokens,
                            env, tmp_path / "mail")
    assert "-b 127.0.0.1:19392" in text and "http://127.0.0.1:18081/docs" in text and "X-API-Key: KEY" in text
    for name in ("screening", "notification", "audit"):
        assert f"http://127.0.0.1:{ports[name]}/healthz" in text
    assert "127.0.0.1:18025" in text and f"{tmp_path / 'mail'}/*.eml" in text
    assert "8081" not in text.replace("18081", "")  # no default port where another one is in effect


def test_every_http_api_takes_the_generated_tokens_and_an_operator_may_list_deliveries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lanthanide.auth import AuthError
    from lanthanide_notification.settings import NotificationSettings

    run_local = _run_local()
    tokens = run_local.local_tokens()
    settings = run_local.token_settings(tokens)
    assert {f"LANTHANIDE_{s}_TOKENS" for s in ("REVIEW", "SCREENING", "AUDIT", "NOTIFICATION")} <= set(settings)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    auth = NotificationSettings().authenticator()
    by_user = {grant["user"]: token for token, grant in tokens.items()}
    assert "operator" in auth.authenticate(f"Bearer {by_user['olga']}", client="test", path="/deliveries").roles
    assert "admin" in auth.authenticate(f"Bearer {by_user['admin']}", client="test", path="/deliveries").roles
    with pytest.raises(AuthError):
        auth.authenticate("Bearer not-a-generated-token", client="test", path="/deliveries")


def test_intake_reads_the_submitters_own_topics_on_the_open_local_broker_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # `lanthanide submit --submitter submitter` under `make run` reaches intake (it was read by
    # nobody: only make run-secure bound the submitters).
    from lanthanide_intake.settings import IntakeSettings

    run_local = _run_local()
    monkeypatch.delenv("LANTHANIDE_INTAKE_KAFKA_SUBMITTERS", raising=False)
    monkeypatch.setenv("LANTHANIDE_INTAKE_KAFKA_SUBMITTERS", run_local.local_submitters())
    grants = IntakeSettings().kafka_grants()
    assert "lanthanide.applications.submitted.submitter" in grants
    assert grants["lanthanide.applications.submitted.submitter"].exporters == ["*"]
    # An operator's own binding wins.
    monkeypatch.setenv("LANTHANIDE_INTAKE_KAFKA_SUBMITTERS", '{"acme-erp": ["uscc:1"]}')
    assert run_local.local_submitters() == '{"acme-erp": ["uscc:1"]}'
