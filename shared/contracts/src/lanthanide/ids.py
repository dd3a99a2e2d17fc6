"""Deterministic identifiers.

Events derived from an input get a uuid5 of the input's id and a purpose, so a replay
re-emits byte-for-byte the same ids and every consumer can dedupe by event_id.
"""

from __future__ import annotations

import uuid

#: Fixed namespace for every Lanthanide uuid5. Changing it changes every derived id: never do.
NAMESPACE = uuid.UUID("6b1d3c1e-6a57-4b0e-9a8c-1f7e3f0c2a11")


def derived_id(*parts: object) -> uuid.UUID:
    """A stable UUID for the given parts (joined with a separator that cannot occur in a UUID)."""
    return uuid.uuid5(NAMESPACE, "\x1f".join(str(p) for p in parts))


def case_id_for(exporter_key: str, external_reference: str) -> uuid.UUID:
    """Same exporter + same external reference = same case, so a resubmission never forks a case."""
    return derived_id("case", exporter_key.strip().casefold(), external_reference.strip())
