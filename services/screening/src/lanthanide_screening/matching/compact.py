"""The product's own list format: compact JSON of sealed lists, written by the converter
(services/screening/scripts/convert_lists.py) and shipped as package data.

Facts only: names and aliases, entity type, identifiers (entry id, programme or announcement),
country, listing date, source address and the dated measure history of each entry. One entry per
line, so a new version of a list reviews as a small diff.

    {"format": "lanthanide-lists/1", "dataset": "prc", "lists": [
      {"list_id": ..., "kind": ..., "source": ..., "as_of": "YYYY-MM-DD", "entries": [
        {"id": ..., "names": [[name, name_type], ...], "type": ..., "country": ..., "program": ...,
         "listed_on": ..., "source": ..., "history": [{"on", "status", "until", "by", "note"}]},
        ...]}]}
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson

from lanthanide_screening.matching.model import (
    LIST_KINDS,
    MEASURE_STATUSES,
    ListEntry,
    ListName,
    MeasureChange,
    RestrictedList,
)

FORMAT = "lanthanide-lists/1"


class CompactFormatError(ValueError):
    """A compact list file is not valid; the message names the file, the entry and the field."""


def _day(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CompactFormatError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _entry_json(e: ListEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"id": e.entry_id, "names": [[n.name, n.name_type] for n in e.names], "type": e.entity_type}
    for key, value in (("country", e.country), ("program", e.program), ("source", e.source)):
        if value:
            out[key] = value
    if e.listed_on:
        out["listed_on"] = e.listed_on.isoformat()
    if e.history:
        out["history"] = [
            {
                k: v
                for k, v in (
                    ("on", c.on.isoformat()),
                    ("status", c.status),
                    ("until", c.until.isoformat() if c.until else None),
                    ("by", c.by),
                    ("note", c.note),
                )
                if v
            }
            for c in e.history
        ]
    return out


def dump_compact(dataset: str, lists: list[RestrictedList]) -> bytes:
    """The compact file for a dataset's lists (deterministic: same lists, same bytes)."""
    lines = [b'{"format": "' + FORMAT.encode() + b'", "dataset": ' + orjson.dumps(dataset) + b', "lists": [']
    for li, lst in enumerate(lists):
        head = {
            "list_id": lst.list_id,
            "kind": lst.kind,
            "source": lst.source,
            "as_of": lst.as_of.isoformat() if lst.as_of else None,
        }
        lines.append(orjson.dumps(head)[:-1] + b', "entries": [')
        entries = sorted(lst.entries, key=lambda x: x.entry_id)
        for ei, e in enumerate(entries):
            lines.append(orjson.dumps(_entry_json(e)) + (b"," if ei < len(entries) - 1 else b""))
        lines.append(b"]}" + (b"," if li < len(lists) - 1 else b""))
    lines.append(b"]}")
    return b"\n".join(lines) + b"\n"


def is_compact(path: Path) -> bool:
    """Whether a file starts like a compact list file."""
    with path.open("rb") as fh:
        return FORMAT.encode() in fh.read(200)


def load_compact(path: Path) -> list[RestrictedList]:
    """Read and validate a compact list file; sealed lists (version = list date + content hash)."""
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise CompactFormatError(f"{path.name}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CompactFormatError(f"{path.name}: format must be {FORMAT!r}")
    out = []
    for li, raw in enumerate(doc.get("lists") or []):
        where = f"{path.name}: lists[{li}]"
        kind = raw.get("kind")
        if kind not in LIST_KINDS:
            raise CompactFormatError(f"{where}.kind: {kind!r} is not one of {LIST_KINDS}")
        if not raw.get("list_id"):
            raise CompactFormatError(f"{where}.list_id: missing")
        lst = RestrictedList(
            raw["list_id"], kind, source=str(raw.get("source") or ""), as_of=_day(raw.get("as_of"), f"{where}.as_of")
        )
        for ei, e in enumerate(raw.get("entries") or []):
            at = f"{where}.entries[{ei}]"
            names = e.get("names") or []
            if not e.get("id") or not names or not all(isinstance(n, list) and n and n[0] for n in names):
                raise CompactFormatError(f"{at}: needs an id and at least one [name, name_type]")
            history = []
            for hi, h in enumerate(e.get("history") or []):
                status = h.get("status")
                if status not in MEASURE_STATUSES:
                    raise CompactFormatError(f"{at}.history[{hi}].status: {status!r} is not one of {MEASURE_STATUSES}")
                on = _day(h.get("on"), f"{at}.history[{hi}].on")
                if on is None:
                    raise CompactFormatError(f"{at}.history[{hi}].on: missing")
                history.append(
                    MeasureChange(
                        on=on,
                        status=status,
                        by=str(h.get("by") or ""),
                        until=_day(h.get("until"), f"{at}.history[{hi}].until"),
                        note=str(h.get("note") or ""),
                    )
                )
            lst.entries.append(
                ListEntry(
                    entry_id=str(e["id"]),
                    names=tuple(ListName(str(n[0]), str(n[1]) if len(n) > 1 else "primary") for n in names),
                    entity_type=str(e.get("type") or "organization"),
                    country=e.get("country"),
                    program=e.get("program"),
                    listed_on=_day(e.get("listed_on"), f"{at}.listed_on"),
                    source=e.get("source"),
                    history=tuple(history),
                )
            )
        if not lst.entries:
            raise CompactFormatError(f"{where}: no entries")
        out.append(lst.seal())
    if not out:
        raise CompactFormatError(f"{path.name}: no lists")
    return out
