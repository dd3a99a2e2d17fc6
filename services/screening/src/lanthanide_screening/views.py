"""Screening's read models (cosmicpython's views.py): what it has loaded and what it applies, as
the HTTP API (`/readyz`, `/dispositions`) and `lanthanide reference list` report them. Nothing
here changes anything; the use cases that do are service_layer/handlers.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanthanide_screening.adapters.store import ScreeningStore
    from lanthanide_screening.domain.screen import ScreeningEngine


def loaded_reference(engine: ScreeningEngine) -> dict[str, Any]:
    """The reference data version and each loaded list's version."""
    return {
        "reference_data_version": engine.reference_data_version,
        "lists": {lst.list_id: lst.version for lst in engine.index.lists},
    }


async def dispositions(store: ScreeningStore) -> list[dict[str, Any]]:
    """The dispositions screening applies (recorded in review, they reach screening as
    disposition.recorded / disposition.revoked events)."""
    return [
        {
            "disposition_id": d.disposition_id,
            "case_id": d.case_id,
            "party_key": d.party_key,
            "list_id": d.list_id,
            "entry_id": d.entry_id,
            "list_version": d.list_version,
            "expires_on": d.expires_on.isoformat(),
            "approved_by": list(d.approved_by),
            "status": d.status,
        }
        for d in await store.list_dispositions()
    ]


def reference_datasets(data_dir: Path) -> list[dict[str, Any]]:
    """Every dataset screening can load (packaged, or stored under `data_dir`) with its kind,
    version, date and checksum, and whether it is the active one of its name."""
    from lanthanide_screening.adapters.reference_store import ReferenceStore, packaged

    store = ReferenceStore(data_dir)
    effective = store.effective()
    return [d.as_row(effective.get(d.dataset) == d) for d in [*packaged(), *store.stored()]]
