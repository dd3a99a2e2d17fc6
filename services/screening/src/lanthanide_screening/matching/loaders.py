"""Loaders for restricted-party list files: the product's compact JSON (what it ships, see
matching/compact.py), PRC JSON-LD (+ YAML sources), OFAC legacy CSV, UN consolidated XML, US
Consolidated Screening List CSV, BIS DPL TSV, OpenSanctions simple CSV and a flat in-house CSV.

`load_lists(path)` detects the format of a file or folder; every loader returns sealed lists
(`RestrictedList.version` = list date + content hash). Quirks of the public sources are noted
where they are handled.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import yaml

from lanthanide_screening.matching.compact import CompactFormatError, is_compact, load_compact
from lanthanide_screening.matching.model import LIST_KINDS, ListEntry, ListName, RestrictedList


class ListFormatError(ValueError):
    """A list file could not be read; the message names the file and what was wrong."""


__all__ = ["CompactFormatError", "ListFormatError", "detect_format", "load_lists"]


# ---------------------------------------------------------------- PRC (ammitto/data-cn)

PRC_CONTROL = "cn-export-control-list"
PRC_UEL = "cn-unreliable-entity-list"
PRC_COUNTER = "cn-counter-sanctions-list"
_PRC_KIND = {PRC_CONTROL: "control", PRC_UEL: "unreliable_entity", PRC_COUNTER: "counter_sanctions"}
_PRC_FOLDER_LIST = {
    "import-export-control-list": PRC_CONTROL,
    "unreliable-entity-list": PRC_UEL,
    "anti-sanction-list": PRC_COUNTER,
}
# Country appears only in announcement titles; longest names first.
_PRC_TITLE_COUNTRIES = (
    ("台湾地区", "TW"),
    ("加拿大", "CA"),
    ("美国", "US"),
    ("日本", "JP"),
    ("英国", "GB"),
    ("德国", "DE"),
    ("欧盟", "EU"),
)


def _prc_list_for(title: str, regime: str) -> str:
    # Known issue 1 in the data README: MOFCOM 2025 No. 1 is tagged as counter-sanctions; the
    # announcement title (管控名单 = control list) is what says which list it is.
    if "管控名单" in title:
        return PRC_CONTROL
    if "unreliable" in regime or "不可靠实体" in title:
        return PRC_UEL
    if "export_control" in regime:
        return PRC_CONTROL
    return PRC_COUNTER


def _prc_country(title: str) -> str | None:
    return next((code for zh, code in _PRC_TITLE_COUNTRIES if zh in title), None)


def _parse_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _prc_modifications(root: Path) -> dict[str, list[dict[str, Any]]]:
    """UEL suspensions and stops by target announcement number (known issue 4: not in the JSON-LD)."""
    mods: dict[str, list[dict[str, Any]]] = defaultdict(list)
    folder = root / "sources" / "sanction-updates"
    for path in sorted(folder.rglob("*.y*ml")) if folder.is_dir() else []:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for mod in (doc.get("measure_modifications") or {}).get("modifications") or []:
            mods[str(mod.get("target_announcement_id"))].append(mod)
    return mods


def _apply_modifications(
    document_id: str, mods: dict[str, list[dict[str, Any]]]
) -> tuple[tuple[tuple[date, date | None], ...], date | None]:
    suspended: list[tuple[date, date | None]] = []
    stopped: date | None = None
    for mod in mods.get(document_id, []):
        start = _parse_date(mod.get("effective_date"))
        if start is None:
            continue
        if mod.get("action") == "stop":
            stopped = start if stopped is None else min(stopped, start)
        elif mod.get("action") == "suspend":
            suspended.append((start, _parse_date(mod.get("until_date"))))
    return tuple(suspended), stopped


def load_prc(path: Path) -> list[RestrictedList]:
    """PRC lists from `api/all.jsonld` (a file or the data-cn folder), completed from the YAML sources.

    Three lists: control (MOFCOM 管控名单), unreliable entity, counter-sanctions. Entries missing
    from the JSON-LD (known issue 2) are added from `sources/sanction-lists/*/*.yml` when present.
    """
    root = path if path.is_dir() else path.parent.parent
    jsonld = path if path.is_file() else path / "api" / "all.jsonld"
    lists = {lid: RestrictedList(lid, _PRC_KIND[lid], source="prc:ammitto/data-cn") for lid in _PRC_KIND}
    mods = _prc_modifications(root)
    seen: set[tuple[str, str]] = set()
    if jsonld.is_file():
        graph = orjson.loads(jsonld.read_bytes()).get("@graph", [])
        entities = {n["id"]: n for n in graph if "entity_type" in n}
        for node in graph:
            if "entity_id" not in node:
                continue
            ann = node.get("announcement") or {}
            title = str(ann.get("title") or "")
            list_id = _prc_list_for(title, str((node.get("regime") or {}).get("@id", "")))
            entity = entities.get(node["entity_id"], {})
            names = [n for n in entity.get("names", []) if n.get("full_name")]
            names.sort(key=lambda n: not n.get("is_primary"))
            if not names:
                continue
            suspended, stopped = _apply_modifications(str(ann.get("document_id")), mods)
            entry = ListEntry(
                entry_id=str(node.get("reference_number") or node["id"].rsplit("/", 1)[-1]),
                names=tuple(
                    ListName(
                        n["full_name"],
                        "primary" if i == 0 else ("original_script" if n.get("script") == "Hani" else "aka"),
                    )
                    for i, n in enumerate(names)
                ),
                entity_type="person" if entity.get("entity_type") == "person" else "organization",
                country=_prc_country(title),
                program=str(ann.get("document_id") or ""),
                listed_on=_parse_date((node.get("period") or {}).get("effective_date"))
                or _parse_date(ann.get("publish_date")),
                source=str(ann.get("url") or ""),
                suspended=suspended,
                stopped_from=stopped,
            )
            lists[list_id].entries.append(entry)
            seen.update((list_id, n.name) for n in entry.names)
    _complete_from_yaml(root, lists, seen, mods)
    if not any(lst.entries for lst in lists.values()):
        raise ListFormatError(f"{path}: no PRC list entries found (expected api/all.jsonld or sources/)")
    for lst in lists.values():
        lst.as_of = max((e.listed_on for e in lst.entries if e.listed_on), default=None)
        lst.seal()
    return list(lists.values())


def _complete_from_yaml(
    root: Path,
    lists: dict[str, RestrictedList],
    seen: set[tuple[str, str]],
    mods: dict[str, list[dict[str, Any]]],
) -> None:
    folder = root / "sources" / "sanction-lists"
    if not folder.is_dir():
        return
    for sub, list_id in _PRC_FOLDER_LIST.items():
        for path in sorted((folder / sub).glob("*.y*ml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            ann = doc.get("announcement") or {}
            title = " ".join(str(t.get("zh-Hans", "")) for t in ann.get("title") or [])
            entities = (doc.get("sanction_details") or {}).get("entities") or []
            for i, ent in enumerate(entities):
                name = ent.get("name") or {}
                zh, en = name.get("zh-Hans"), name.get("en")
                if not (zh or en) or (list_id, en or zh) in seen or (list_id, zh) in seen:
                    continue
                names = tuple(ListName(n, t) for n, t in ((en, "primary"), (zh, "original_script")) if n)
                suspended, stopped = _apply_modifications(str(ann.get("document_id")), mods)
                lists[list_id].entries.append(
                    ListEntry(
                        entry_id=f"yaml:{path.stem}:{i}",
                        names=names,
                        entity_type="person" if ent.get("type") == "individual" else "organization",
                        country=_prc_country(title),
                        program=str(ann.get("document_id") or ""),
                        listed_on=_parse_date(ent.get("effective_date")) or _parse_date(ann.get("publish_date")),
                        source=str(ann.get("url") or ""),
                        suspended=suspended,
                        stopped_from=stopped,
                    )
                )
                seen.update((list_id, n.name) for n in names)


# ---------------------------------------------------------------- OFAC legacy CSV


def _ofac_rows(path: Path) -> list[list[str]]:
    # The last line is a lone 0x1A (DOS end-of-file); nulls are written "-0- ".
    text = path.read_bytes().decode("utf-8", "replace").replace("\x1a", "")
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text)) if row and any(row)]


def _null(value: str) -> str | None:
    return None if value in ("", "-0-") else value


def _date_in_name(path: Path) -> date | None:
    m = re.search(r"(\d{4})-(\d{2})(?:-(\d{2}))?", str(path))
    return date(int(m[1]), int(m[2]), int(m[3] or 1)) if m else None


def load_ofac(path: Path) -> list[RestrictedList]:
    """OFAC legacy CSV: sdn.csv (or cons_prim.csv) joined with alt.csv (cons_alt.csv) on ent_num."""
    folder = path if path.is_dir() else path.parent
    prim = (
        path
        if path.is_file()
        else next((folder / n for n in ("sdn.csv", "cons_prim.csv") if (folder / n).is_file()), folder / "sdn.csv")
    )
    consolidated = prim.name.startswith("cons_")
    alt = folder / ("cons_alt.csv" if consolidated else "alt.csv")
    aliases: dict[str, list[ListName]] = defaultdict(list)
    if alt.is_file():
        for row in _ofac_rows(alt):
            if len(row) >= 4 and _null(row[3]):
                aliases[row[0]].append(ListName(row[3], _null(row[2]) or "aka"))
    lst = RestrictedList(
        "ofac-nonsdn" if consolidated else "ofac-sdn",
        "sanctions",
        source=f"ofac:{prim.name}",
        as_of=_date_in_name(folder),
    )
    types = {"individual": "person", "vessel": "vessel", "aircraft": "aircraft"}
    for row in _ofac_rows(prim):
        if len(row) < 4 or not _null(row[1]):
            continue
        lst.entries.append(
            ListEntry(
                entry_id=row[0],
                names=(ListName(row[1]), *aliases.get(row[0], [])),
                entity_type=types.get(row[2], "organization"),
                program=_null(row[3]),
                source="ofac",
            )
        )
    if not lst.entries:
        raise ListFormatError(f"{prim}: no OFAC rows (expected ent_num,SDN_Name,SDN_Type,Program,...)")
    return [lst.seal()]


# ---------------------------------------------------------------- UN consolidated XML


def _text(el: ET.Element, tag: str) -> str:
    found = el.find(tag)
    return (found.text or "").strip() if found is not None and found.text else ""


def load_un(path: Path) -> list[RestrictedList]:
    """UN Security Council consolidated list XML (INDIVIDUALS/INDIVIDUAL, ENTITIES/ENTITY)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ListFormatError(f"{path}: not well-formed XML: {exc}") from None
    lst = RestrictedList(
        "un-consolidated", "sanctions", source=f"un:{path.name}", as_of=_parse_date(root.get("dateGenerated"))
    )
    for tag, alias_tag, etype in (
        ("INDIVIDUAL", "INDIVIDUAL_ALIAS", "person"),
        ("ENTITY", "ENTITY_ALIAS", "organization"),
    ):
        for el in root.iter(tag):
            primary = " ".join(
                p for p in (_text(el, f) for f in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")) if p
            )
            if not primary:
                continue
            names = [ListName(primary)]
            if original := _text(el, "NAME_ORIGINAL_SCRIPT"):
                names.append(ListName(original, "original_script"))
            for alias in el.iter(alias_tag):
                if alias_name := _text(alias, "ALIAS_NAME"):
                    names.append(ListName(alias_name, f"aka:{_text(alias, 'QUALITY') or 'unknown'}"))
            nationality = el.find("NATIONALITY/VALUE")
            lst.entries.append(
                ListEntry(
                    entry_id=_text(el, "REFERENCE_NUMBER") or _text(el, "DATAID"),
                    names=tuple(names),
                    entity_type=etype,
                    program=_text(el, "UN_LIST_TYPE") or None,
                    country=(nationality.text or "").strip() or None if nationality is not None else None,
                    listed_on=_parse_date(_text(el, "LISTED_ON")),
                    source="un",
                )
            )
    if not lst.entries:
        raise ListFormatError(f"{path}: no INDIVIDUAL or ENTITY elements found")
    return [lst.seal()]


# ---------------------------------------------------------------- CSV formats with a header


def load_csl(path: Path) -> list[RestrictedList]:
    """trade.gov Consolidated Screening List CSV (name, alt_names '; '-separated, type, source)."""
    lst = RestrictedList("us-csl", "other", source=f"csl:{path.name}", as_of=_date_in_name(path))
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if not (row.get("name") or "").strip():
                continue
            names = [ListName(row["name"].strip())]
            names += [ListName(a.strip(), "aka") for a in (row.get("alt_names") or "").split(";") if a.strip()]
            kind = (row.get("type") or "").strip().lower()
            lst.entries.append(
                ListEntry(
                    entry_id=(row.get("entity_number") or row.get("_id") or f"row{i}").strip() or f"row{i}",
                    names=tuple(names),
                    entity_type={"individual": "person", "vessel": "vessel", "aircraft": "aircraft"}.get(
                        kind, "organization"
                    ),
                    program=(row.get("source") or "").strip() or None,
                    source="csl",
                )
            )
    return [lst.seal()]


def load_bis_dpl(path: Path) -> list[RestrictedList]:
    """BIS Denied Persons List TSV; one person appears once per order, merged by name."""
    lst = RestrictedList("us-bis-dpl", "other", source=f"bis:{path.name}", as_of=_date_in_name(path))
    seen: dict[str, ListEntry] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            name = (row.get("Name") or "").strip()
            if name and name.casefold() not in seen:
                seen[name.casefold()] = ListEntry(
                    entry_id=f"dpl{len(seen)}",
                    names=(ListName(name),),
                    entity_type="organization",
                    country=(row.get("Country") or "").strip() or None,
                    program=row.get("FR_Citation"),
                )
    lst.entries = list(seen.values())
    return [lst.seal()]


FLAT_HEADER = ("list_id", "entry_id", "name", "name_type", "entity_type", "country", "program")


def load_flat(path: Path) -> list[RestrictedList]:
    """In-house CSV `list_id,entry_id,name,name_type,entity_type,country,program[,list_kind]`.

    Rows with the same list_id and entry_id are one entry (its first row is the primary name).
    The kind comes from an optional `list_kind` column, else "watch" when the list id says so.
    """
    grouped: dict[str, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    kinds: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("list_id", "entry_id", "name") if c not in (reader.fieldnames or [])]
        if missing:
            raise ListFormatError(f"{path}: missing column(s) {missing}; header must be {','.join(FLAT_HEADER)}")
        for n, row in enumerate(reader, start=2):
            if not (row.get("name") or "").strip():
                raise ListFormatError(f"{path}:{n}: empty name")
            lid = row["list_id"].strip()
            kind = (row.get("list_kind") or "").strip() or ("watch" if "watch" in lid else "other")
            if kind not in LIST_KINDS:
                raise ListFormatError(f"{path}:{n}: list_kind {kind!r} is not one of {LIST_KINDS}")
            kinds.setdefault(lid, kind)
            grouped[lid][row["entry_id"].strip()].append(row)
    out = []
    for lid, entries in grouped.items():
        lst = RestrictedList(lid, kinds[lid], source=f"flat:{path.name}", as_of=_date_in_name(path))
        for eid, rows in entries.items():
            first = rows[0]
            lst.entries.append(
                ListEntry(
                    entry_id=eid,
                    names=tuple(
                        ListName(r["name"].strip(), (r.get("name_type") or "").strip() or "primary") for r in rows
                    ),
                    entity_type=(first.get("entity_type") or "").strip() or "organization",
                    country=(first.get("country") or "").strip() or None,
                    program=(first.get("program") or "").strip() or None,
                    source="flat",
                )
            )
        out.append(lst.seal())
    return out


# ---------------------------------------------------------------- OpenSanctions "simple" CSV

OPENSANCTIONS_HEADER = ("id", "schema", "name", "aliases")
_OS_TYPES = {"Person": "person", "Vessel": "vessel", "Airplane": "aircraft"}


def load_opensanctions(path: Path) -> list[RestrictedList]:
    """OpenSanctions `targets.simple.csv` (id, schema, name, aliases ';'-separated, countries,
    identifiers, sanctions, dataset, first_seen, ...). UN Security Council exports are kind
    "sanctions" (binding on the PRC); any other dataset is kind "other" (review, not denial)."""
    entries: list[ListEntry] = []
    datasets: set[str] = set()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in OPENSANCTIONS_HEADER if c not in (reader.fieldnames or [])]
        if missing:
            raise ListFormatError(f"{path}: missing column(s) {missing} of the OpenSanctions simple CSV")
        for n, row in enumerate(reader, start=2):
            name = (row.get("name") or "").strip()
            if not name or not (row.get("id") or "").strip():
                raise ListFormatError(f"{path}:{n}: empty id or name")
            datasets.add((row.get("dataset") or "").strip())
            aliases = [a.strip() for a in (row.get("aliases") or "").split(";") if a.strip() and a.strip() != name]
            entries.append(
                ListEntry(
                    entry_id=row["id"].strip(),
                    names=(ListName(name), *(ListName(a, "aka") for a in aliases)),
                    entity_type=_OS_TYPES.get((row.get("schema") or "").strip(), "organization"),
                    country=((row.get("countries") or "").split(";")[0].strip().upper() or None),
                    program=(row.get("sanctions") or "").strip()[:200] or None,
                    listed_on=_parse_date(row.get("first_seen")),
                    source="opensanctions",
                )
            )
    label = " ".join(sorted(d for d in datasets if d)) or path.stem
    un = "security council" in label.casefold() or "un_sc" in label.casefold()
    slug = re.sub(r"[^a-z0-9]+", "-", label.casefold()).strip("-")[:40] or "export"
    lst = RestrictedList(f"opensanctions-{slug}", "sanctions" if un else "other", source=f"opensanctions:{path.name}")
    lst.entries = entries
    lst.as_of = max((e.listed_on for e in entries if e.listed_on), default=None)
    if not entries:
        raise ListFormatError(f"{path}: no rows")
    return [lst.seal()]


# ---------------------------------------------------------------- detection


def detect_format(path: Path) -> str:
    """One of compact, prc, ofac, un, csl, bis_dpl, flat, opensanctions; ListFormatError when nothing fits."""
    if path.is_dir():
        if (path / "api" / "all.jsonld").is_file() or (path / "sources" / "sanction-lists").is_dir():
            return "prc"
        if (path / "sdn.csv").is_file() or (path / "cons_prim.csv").is_file():
            return "ofac"
        raise ListFormatError(f"{path}: folder holds no known list (api/all.jsonld, sdn.csv, cons_prim.csv)")
    if not path.is_file():
        raise ListFormatError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".json" and is_compact(path):
        return "compact"
    if suffix in (".jsonld", ".json"):
        return "prc"
    if suffix == ".xml":
        return "un"
    with path.open(encoding="utf-8", errors="replace") as fh:
        head = fh.readline().lstrip("\ufeff").strip().lower().replace('"', "")
    if head.startswith("list_id,"):
        return "flat"
    if head.startswith("id,schema,name,aliases"):
        return "opensanctions"
    if head.startswith("name\t"):
        return "bis_dpl"
    if "name" in head.split(",") and ("source" in head.split(",") or "alt_names" in head):
        return "csl"
    if suffix == ".csv":
        return "ofac"
    raise ListFormatError(f"{path}: unknown list format (header {head[:60]!r})")


_LOADERS = {
    "compact": load_compact,
    "prc": load_prc,
    "ofac": load_ofac,
    "un": load_un,
    "csl": load_csl,
    "bis_dpl": load_bis_dpl,
    "flat": load_flat,
    "opensanctions": load_opensanctions,
}


def load_lists(path: Path) -> list[RestrictedList]:
    """Load every list in a file or folder, detecting its format."""
    try:
        return _LOADERS[detect_format(path)](path)
    except CompactFormatError as exc:
        raise ListFormatError(str(exc)) from None
