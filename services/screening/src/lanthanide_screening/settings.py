"""Screening settings (LANTHANIDE_SCREENING_* environment variables)."""

from __future__ import annotations

import os
from pathlib import Path

from lanthanide.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lanthanide_screening.domain.reference import PACKAGE_REFERENCE

# services/screening/src/lanthanide_screening/settings.py -> parents[4] is the repository root.
_REPO_ROOT = Path(__file__).resolve().parents[4]


def shared_data_dir() -> Path:
    """The shared reference data: LANTHANIDE_SHARED_DATA, else ../shared/data next to the repo."""
    env = os.environ.get("LANTHANIDE_SHARED_DATA")
    return Path(env) if env else (_REPO_ROOT / ".." / "shared" / "data").resolve()


def default_lists() -> list[Path]:
    """PRC lists, the UN Security Council list and the in-house watch list."""
    data = shared_data_dir() / "lists"
    return [data / "prc", data / "un_consolidated" / "UN_consolidated.xml", PACKAGE_REFERENCE / "watch_list.csv"]


class ScreeningSettings(ServiceSettings):
    """Settings of the screening service."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_SCREENING_", extra="ignore")

    store_name = "screening"

    group_id: str = "lanthanide-screening"
    lists: list[Path] = Field(default_factory=default_lists)
    measures_path: Path | None = None
    policy_path: Path | None = None
    #: Overrides the policy's alert threshold (0..1) when set.
    alert_threshold: float | None = Field(default=None, ge=0, le=1)
