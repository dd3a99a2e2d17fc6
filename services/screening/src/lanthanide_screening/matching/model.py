"""Restricted-party lists as loaded: a list with a kind and a version, entries with names."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

import orjson

#: What a list is; the policy (reference/policy.yaml) maps each kind to an action.
LIST_KINDS = ("control", "watch", "unreliable_entity", "counter_sanctions", "sanctions", "other")

#: The names a decision gives the lists it cites (Reason.list_name); a list id not here is named by
#: its kind, and an unknown kind by its id.
LIST_NAMES = {
    "cn-export-control-list": "MOFCOM export control list (出口管制管控名单)",
    "cn-watch-list": "MOFCOM export control watch list (出口管制关注名单)",
    "cn-unreliable-entity-list": "Unreliable Entity List (不可靠实体清单)",
    "cn-counter-sanctions-list": "Counter-sanctions list (反制清单, Anti-Foreign Sanctions Law)",
    "un-consolidated": "UN Security Council consolidated list",
    "us-csl": "US Consolidated Screening List",
    "us-bis-dpl": "US BIS Denied Persons List",
}
LIST_KIND_NAMES = {
    "control": "export control list",
    "watch": "export control watch list",
    "unreliable_entity": "Unreliable Entity List",
    "counter_sanctions": "counter-sanctions list",
    "sanctions": "sanctions list",
}


def list_name(list_id: str, kind: str) -> str:
    """The human name of a loaded list, for reasons and reports."""
    return LIST_NAMES.get(list_id) or (f"{LIST_KIND_NAMES[kind]} ({list_id})" if kind in LIST_KIND_NAMES else list_id)


@dataclass(frozen=True, slots=True)
class ListName:
    """One name of an entry: the primary name, an alias (aka/fka/nka) or the original script."""

    name: str
    name_type: str = "primary"


#: Status a measure change puts an entry's measures in (see MeasureChange).
MEASURE_STATUSES = ("listed", "suspended", "stopped", "lifted", "in_force")


@dataclass(frozen=True, slots=True)
class MeasureChange:
    """One dated change of the measures on a listed entry, as the announcement that made it says.

    `status` from `on`: listed / in_force (the measures apply), suspended (not applied, until
    `until` inclusive when the announcement gives an end), stopped or lifted (no longer applied).
    A later change supersedes an earlier one; a suspension past its `until` reverts to in force.
    """

    on: date
    status: str
    by: str
    until: date | None = None
    note: str = ""

    def describe(self) -> str:
        """One line for a reviewer: date, status, window and the announcement."""
        window = f" until {self.until}" if self.until else ""
        return f"{self.on} {self.status}{window} ({self.by})"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One listed party. Its measures' dated history is `history` (MeasureChange, oldest first);
    entries of sources without a history may carry `suspended` (from, until) windows and a
    `stopped_from` date instead."""

    entry_id: str
    names: tuple[ListName, ...]
    entity_type: str = "organization"
    country: str | None = None
    program: str | None = None
    listed_on: date | None = None
    source: str | None = None
    suspended: tuple[tuple[date, date | None], ...] = ()
    stopped_from: date | None = None
    history: tuple[MeasureChange, ...] = ()

    @property
    def primary_name(self) -> str:
        return self.names[0].name

    def measure_on(self, on: date) -> str | None:
        """The announcement the entry's measures rest on at a date: the latest dated change on or
        before it (e.g. "2025年第13号"), else the program that listed it."""
        current = [c for c in self.history if c.on <= on]
        if current:
            return max(current, key=lambda c: c.on).by
        return self.program

    def in_force_on(self, on: date) -> bool:
        """Whether the entry's measures apply on a date (not stopped, lifted or suspended)."""
        if self.history:
            current = None
            for change in sorted(self.history, key=lambda c: c.on):
                if change.on <= on:
                    current = change
            if current is None or current.status in ("listed", "in_force"):
                return True
            if current.status == "suspended":
                return current.until is not None and on > current.until
            return False  # stopped, lifted
        if self.stopped_from is not None and on >= self.stopped_from:
            return False
        return not any(start <= on and (end is None or on <= end) for start, end in self.suspended)


@dataclass(slots=True)
class RestrictedList:
    """A loaded list: id, kind (see LIST_KINDS), where it came from, its entries and version."""

    list_id: str
    kind: str
    source: str
    entries: list[ListEntry] = field(default_factory=list)
    as_of: date | None = None
    version: str = ""

    def seal(self) -> RestrictedList:
        """Compute the version: a content hash of the entries plus the list date."""
        digest = hashlib.sha256()
        for e in sorted(self.entries, key=lambda x: x.entry_id):
            digest.update(
                orjson.dumps(
                    [
                        e.entry_id,
                        [[n.name, n.name_type] for n in e.names],
                        e.entity_type,
                        e.country,
                        e.program,
                        str(e.suspended),
                        str(e.stopped_from),
                        [c.describe() for c in e.history],
                    ]
                )
            )
        stamp = self.as_of.isoformat() if self.as_of else "undated"
        self.version = f"{stamp}+sha256:{digest.hexdigest()[:16]}"
        return self
