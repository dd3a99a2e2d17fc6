"""Secrets from files (secrets_dir) and refusal of example placeholders in the settings base."""

from __future__ import annotations

from pathlib import Path

import pytest
from lanthanide.settings import PlaceholderSecretError
from lanthanide_review.settings import ReviewSettings


def test_secret_files_are_read_and_the_password_goes_into_the_url(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "lanthanide_review_tokens").write_text('{"tok-9f2": {"user": "alice", "roles": ["reviewer"]}}\n')
    (tmp_path / "lanthanide_database_password").write_text("s3cr/t@x\n")
    monkeypatch.setenv("LANTHANIDE_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("LANTHANIDE_REVIEW_DB_URL", "postgresql+asyncpg://lanthanide@postgres/review")
    settings = ReviewSettings()
    assert settings.tokens["tok-9f2"].roles == ["reviewer"]
    assert settings.database_url == "postgresql+asyncpg://lanthanide:s3cr%2Ft%40x@postgres/review"


def test_environment_wins_over_a_secret_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "lanthanide_database_password").write_text("from-file")
    monkeypatch.setenv("LANTHANIDE_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("LANTHANIDE_DATABASE_PASSWORD", "from-env")
    assert ReviewSettings().database_password.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("lanthanide_review_tokens", '{"change-me-token": {"user": "alice"}}'),
        ("lanthanide_database_password", "CHANGE_ME"),
    ],
)
def test_placeholders_are_refused_without_echoing_the_value(tmp_path: Path, monkeypatch, name, value) -> None:
    (tmp_path / name).write_text(value)
    monkeypatch.setenv("LANTHANIDE_SECRETS_DIR", str(tmp_path))
    with pytest.raises(PlaceholderSecretError) as err:
        ReviewSettings()
    assert "placeholder" in str(err.value)
    assert value not in str(err.value)


def test_a_missing_secrets_dir_is_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LANTHANIDE_SECRETS_DIR", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="LANTHANIDE_SECRETS_DIR"):
        ReviewSettings()
