"""Convert the public restricted-party list sources into the lists screening ships.

    uv run python services/screening/scripts/convert_lists.py SOURCE_LISTS_DIR [--out DIR]

SOURCE_LISTS_DIR holds the public source files as published (byte-for-byte copies):
  prc/                               ammitto/data-cn (api/all.jsonld, sources/)
  un_consolidated/UN_consolidated.xml moov-io/watchman test/testdata/UN_consolidated.xml
The curated files beside this script add what those sources lack (their own sources inside):
  curated/prc_control_measures.yaml  dated control-list measure changes (MOFCOM 2025 Nos. 13, 21, 22)
  curated/prc_watch_list.yaml        the watch list of MOFCOM 2026 No. 12

Output (default: the package's reference/lists/): one compact file per dataset (prc.json, un.json,
watch.json) and manifest.json with, per dataset, its origin, date, version and the sha256 of the
source and of the output. Running it twice on the same sources writes the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import yaml
from lanthanide_screening.matching.compact import dump_compact
from lanthanide_screening.matching.loaders import load_prc, load_un
from lanthanide_screening.matching.model import ListEntry, ListName, MeasureChange, RestrictedList

HERE = Path(__file__).resolve().parent
CURATED = HERE / "curated"
PACKAGE_LISTS = HERE.parent / "src" / "lanthanide_screening" / "reference" / "lists"

# Where each public source comes from (repository, path, commit, date of the file).
ORIGINS: dict[str, dict[str, str]] = {
    "prc": {
        "repository": "github.com/ammitto/data-cn",
        "path": "api/all.jsonld, sources/",
        "commit": "441c18f1f941cded83a10043b572c6c4a2c4bf81",
        "date": "2026-03-12",
    },
    "un": {
        "repository": "github.com/moov-io/watchman",
        "path": "test/testdata/UN_consolidated.xml",
        "commit": "d299005f",
        "date": "2026-02-27",
    },
}


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sha256_tree(root: Path) -> str:
    """Checksum of a folder: sha256 over 'relative path  file sha256' lines, sorted."""
    lines = sorted(f"{p.relative_to(root).as_posix()}  {_sha256_file(p)}" for p in root.rglob("*") if p.is_file())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _day(value: Any) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def _uel_changes(prc: Path) -> dict[str, list[MeasureChange]]:
    """UEL suspensions and stops from sources/sanction-updates, keyed by target document id."""
    out: dict[str, list[MeasureChange]] = {}
    for path in sorted((prc / "sources" / "sanction-updates").rglob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        ann = doc.get("announcement") or {}
        by = f"MOFCOM statement of {ann.get('publish_date')} ({ann.get('url', '')})"
        for mod in (doc.get("measure_modifications") or {}).get("modifications") or []:
            status = {"suspend": "suspended", "stop": "stopped"}.get(str(mod.get("action")))
            on = _day(mod.get("effective_date"))
            if status and on:
                out.setdefault(str(mod.get("target_announcement_id")), []).append(
                    MeasureChange(
                        on=on,
                        status=status,
                        by=by,
                        until=_day(mod.get("until_date")),
                        note=str(mod.get("notes") or "").strip(),
                    )
                )
    return out


def _curated_control_changes() -> dict[str, list[MeasureChange]]:
    doc = yaml.safe_load((CURATED / "prc_control_measures.yaml").read_text(encoding="utf-8"))
    return {
        str(doc_id): [
            MeasureChange(
                on=_day(c["date"]) or date.min,
                status=c["status"],
                by=c["by"],
                until=_day(c.get("until")),
                note=c.get("note", ""),
            )
            for c in changes
        ]
        for doc_id, changes in doc["changes"].items()
    }


def convert_prc(prc: Path) -> list[RestrictedList]:
    """The three PRC lists with each entry's measure history (listing, then dated changes)."""
    changes = _uel_changes(prc)
    for doc_id, extra in _curated_control_changes().items():
        changes.setdefault(doc_id, []).extend(extra)
    lists = load_prc(prc)
    for lst in lists:
        entries = []
        for e in lst.entries:
            history = []
            if e.listed_on:
                history.append(MeasureChange(on=e.listed_on, status="listed", by=e.program or "listing announcement"))
            history += sorted(changes.get(e.program or "", []), key=lambda c: c.on)
            entries.append(
                ListEntry(
                    entry_id=e.entry_id,
                    names=e.names,
                    entity_type=e.entity_type,
                    country=e.country,
                    program=e.program,
                    listed_on=e.listed_on,
                    source=e.source,
                    history=tuple(history),
                )
            )
        lst.entries = entries
        lst.seal()
    return lists


def convert_watch() -> list[RestrictedList]:
    """The watch list from the curated announcement data."""
    doc = yaml.safe_load((CURATED / "prc_watch_list.yaml").read_text(encoding="utf-8"))
    ann = doc["announcement"]
    listed = _day(ann["effective_date"])
    lst = RestrictedList("cn-watch-list", "watch", source="prc:MOFCOM " + ann["document_id"], as_of=listed)
    for i, ent in enumerate(doc["entities"], start=1):
        names = [ListName(ent["en"], "primary")] + ([ListName(ent["zh"], "original_script")] if ent.get("zh") else [])
        lst.entries.append(
            ListEntry(
                entry_id=f"2026-12-{ent.get('position', 100 + i):03d}",
                names=tuple(names),
                country=ann["country"],
                program=ann["document_id"],
                listed_on=listed,
                source=ent["source"],
                history=(MeasureChange(on=listed or date.min, status="listed", by="MOFCOM " + ann["document_id"]),),
            )
        )
    return [lst.seal()]


def _watch_completeness() -> dict[str, Any]:
    """How many of the announcement's entities the data holds: a partial list says so."""
    doc = yaml.safe_load((CURATED / "prc_watch_list.yaml").read_text(encoding="utf-8"))
    declared, held = int(doc["announcement"]["declared_entities"]), len(doc["entities"])
    return {"declared_entities": declared, "entities": held, "complete": held >= declared}


def _write(
    out: Path, dataset: str, lists: list[RestrictedList], source_sha: str, origin: dict[str, str]
) -> dict[str, Any]:
    data = dump_compact(dataset, lists)
    (out / f"{dataset}.json").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    as_of = max((lst.as_of for lst in lists if lst.as_of), default=None)
    return {
        "dataset": dataset,
        "kind": "list",
        "file": f"{dataset}.json",
        "date": as_of.isoformat() if as_of else None,
        "version": f"{as_of.isoformat() if as_of else 'undated'}+sha256:{sha[:12]}",
        "sha256": sha,
        "source": origin,
        "source_sha256": source_sha,
        "lists": {lst.list_id: len(lst.entries) for lst in lists},
    }


def main(argv: list[str] | None = None) -> int:
    """Convert; print one line per dataset written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder holding prc/ and un_consolidated/")
    parser.add_argument("--out", type=Path, default=PACKAGE_LISTS, help="output folder (default: package data)")
    args = parser.parse_args(argv)
    prc, un = args.source / "prc", args.source / "un_consolidated" / "UN_consolidated.xml"
    for needed in (prc, un):
        if not needed.exists():
            parser.error(f"{needed} not found (expected the public source files under {args.source})")
    args.out.mkdir(parents=True, exist_ok=True)
    curated_sha = hashlib.sha256(b"".join(_sha256_file(p).encode() for p in sorted(CURATED.glob("*.yaml")))).hexdigest()
    manifest = {
        "format": "lanthanide-reference-manifest/1",
        "datasets": [
            _write(
                args.out,
                "prc",
                convert_prc(prc),
                _sha256_tree(prc),
                {**ORIGINS["prc"], "curated": "scripts/curated/prc_control_measures.yaml"},
            ),
            _write(args.out, "un", load_un(un), _sha256_file(un), ORIGINS["un"]),
            _write(
                args.out,
                "watch",
                convert_watch(),
                _sha256_file(CURATED / "prc_watch_list.yaml"),
                {
                    "announcement": "MOFCOM 2026 No. 12 (2026-02-24)",
                    "curated": "scripts/curated/prc_watch_list.yaml",
                    "curated_sha256": curated_sha,
                    **_watch_completeness(),
                },
            ),
        ],
    }
    (args.out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    for d in manifest["datasets"]:
        print(f"{d['dataset']}: {sum(d['lists'].values())} entries, version {d['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
