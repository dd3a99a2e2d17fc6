"""Builds a ScreeningEngine from files: measures, policy and every configured list."""

from __future__ import annotations

from pathlib import Path

from lanthanide.logging import get_logger

from lanthanide_screening.adapters.reference_store import MEASURES, ReferenceStore
from lanthanide_screening.domain.reference import load_measures, load_policy
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.matching.index import build_index
from lanthanide_screening.matching.loaders import load_lists
from lanthanide_screening.matching.model import RestrictedList
from lanthanide_screening.settings import ScreeningSettings

log = get_logger(__name__)


def load_all_lists(paths: list[Path]) -> list[RestrictedList]:
    """Every list in every configured path (a missing path is an error: screening must not run blind)."""
    lists: list[RestrictedList] = []
    for path in paths:
        loaded = load_lists(path)
        lists.extend(loaded)
        for lst in loaded:
            log.info("list_loaded", list_id=lst.list_id, kind=lst.kind, entries=len(lst.entries), version=lst.version)
    return lists


def reference_paths(settings: ScreeningSettings) -> tuple[list[Path], Path]:
    """(list paths, measures path): explicit settings, else the packaged data with the operator's
    activated versions (data_dir/reference) in place of the packaged ones."""
    effective = ReferenceStore(settings.data_dir).effective()
    lists = (
        settings.lists
        if settings.lists is not None
        else [d.path for _, d in sorted(effective.items()) if d.kind == "list"]
    )
    return lists, settings.measures_path or effective[MEASURES].path


def build_engine(settings: ScreeningSettings) -> ScreeningEngine:
    """Load measures, policy and lists; apply the alert-threshold override."""
    list_paths, measures_path = reference_paths(settings)
    policy = load_policy(settings.policy_path)
    if settings.alert_threshold is not None:
        policy = policy.model_copy(
            update={"thresholds": policy.thresholds.model_copy(update={"alert": settings.alert_threshold})}
        )
    return ScreeningEngine(
        measures=load_measures(measures_path),
        policy=policy,
        index=build_index(load_all_lists(list_paths)),
    )
