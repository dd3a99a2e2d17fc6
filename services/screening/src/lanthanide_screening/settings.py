"""Screening settings (LANTHANIDE_SCREENING_* environment variables)."""

from __future__ import annotations

from pathlib import Path

from lanthanide.auth import TokenSettings
from lanthanide.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lanthanide_screening.domain.reference import PACKAGE_REFERENCE

PACKAGE_LISTS = PACKAGE_REFERENCE / "lists"


def default_lists() -> list[Path]:
    """The lists the package ships (converted from the public sources, see reference/lists/manifest.json):
    PRC control, unreliable entity and counter-sanctions lists, the PRC watch list, the UN list."""
    return [PACKAGE_LISTS / "prc.json", PACKAGE_LISTS / "un.json", PACKAGE_LISTS / "watch.json"]


class ScreeningSettings(ServiceSettings, TokenSettings):
    """Settings of the screening service."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_SCREENING_", extra="ignore")

    store_name = "screening"

    group_id: str = "lanthanide-screening"
    #: Explicit list files/folders. Unset: the packaged lists, each replaced by the version an
    #: operator loaded and screening activated (`lanthanide reference load`, under data_dir/reference).
    lists: list[Path] | None = None
    #: Explicit measures file. Unset: the packaged measures.yaml or the activated loaded version.
    measures_path: Path | None = None
    policy_path: Path | None = None
    #: Overrides the policy's alert threshold (0..1) when set.
    alert_threshold: float | None = Field(default=None, ge=0, le=1)
