"""Loads the persisted-retry schedule (policy data, `data/retry_schedule.yaml` by default)."""

from __future__ import annotations

from pathlib import Path

import yaml

from lanthanide_notification.domain.retry import BackoffSchedule, parse_duration

#: The schedule the package ships: 30 s, 2 min, 10 min, 1 h, 4 h, 12 h, then failed.
DEFAULT_SCHEDULE = Path(__file__).resolve().parent.parent / "data" / "retry_schedule.yaml"


def load_schedule(path: Path | None = None) -> BackoffSchedule:
    """Read and validate a schedule file; errors name the file and the bad entry."""
    path = path or DEFAULT_SCHEDULE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the retry schedule: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("delays", []), list):
        raise ValueError(f"{path}: expected a mapping with a list 'delays' (e.g. delays: [30s, 2m])")
    delays = []
    for i, raw in enumerate(data.get("delays") or []):
        try:
            delays.append(parse_duration(raw))
        except ValueError as exc:
            raise ValueError(f"{path}: delays[{i}]: {exc}") from None
    return BackoffSchedule(tuple(delays), version=str(data.get("version", "unversioned")),
                           source=str(data.get("source", "")))
