"""One name per shared setting, in every service, with the older names still read."""

from __future__ import annotations

import pytest

SERVICES = ["intake", "screening", "review", "notification", "audit"]


def _settings(service: str):  # type: ignore[no-untyped-def]
    import importlib

    module = importlib.import_module(f"lanthanide_{service}.settings")
    return next(v for k, v in vars(module).items() if k.endswith("Settings") and k.lower().startswith(service))


@pytest.mark.parametrize("service", SERVICES)
def test_the_shared_names_are_read_with_the_service_prefix(service: str, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: object) -> None:
    p = f"LANTHANIDE_{service.upper()}_"
    monkeypatch.setenv(f"{p}DATABASE_URL", "sqlite+aiosqlite:///new.db")
    monkeypatch.setenv(f"{p}HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv(f"{p}HTTP_PORT", "9999")
    monkeypatch.setenv(f"{p}TOPIC_PREFIX", "t1.")
    s = _settings(service)()
    assert s.store_url() == "sqlite+aiosqlite:///new.db"
    assert (s.http_host, s.http_port) == ("0.0.0.0", 9999)
    assert s.topic("lanthanide.decisions") == "t1.lanthanide.decisions"


@pytest.mark.parametrize("service", SERVICES)
def test_the_older_database_url_name_still_works_and_the_new_one_wins(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = f"LANTHANIDE_{service.upper()}_"
    cls = _settings(service)
    monkeypatch.setenv(f"{p}DB_URL", "sqlite+aiosqlite:///old.db")
    assert cls().store_url() == "sqlite+aiosqlite:///old.db"
    assert cls(db_url="sqlite+aiosqlite:///kw.db").store_url() == "sqlite+aiosqlite:///kw.db"
    monkeypatch.setenv(f"{p}DATABASE_URL", "sqlite+aiosqlite:///new.db")
    assert cls().store_url() == "sqlite+aiosqlite:///new.db"


@pytest.mark.parametrize("service", SERVICES)
def test_the_default_store_is_the_services_sqlite_file(service: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: object) -> None:
    monkeypatch.setenv("LANTHANIDE_DATA_DIR", str(tmp_path))
    assert _settings(service)().store_url().endswith(f"/{service}.db")
