"""Reference data on disk: what the package ships, and what operators loaded into the data dir.

Shipped: `reference/lists/manifest.json` names each list dataset (prc, un, watch) with its file,
version, date and sha256; the packaged `measures.yaml` is the dataset "measures".

Loaded by an operator (`lanthanide reference load|fetch`), under `<data_dir>/reference/`:

    <dataset>/<version>/<file>       the file, as validated
    <dataset>/<version>/meta.json    dataset, kind, version, date, sha256, file, origin
    <dataset>/active                 the version screening activated (after verifying its sha256)

A `reference.updated` event names dataset, version and checksum only; screening looks the version
up in its own data dir, checks the file's sha256 against the event and the meta, and only then
activates it. A stored version whose file no longer matches its checksum is never used.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from lanthanide_screening.domain.reference import PACKAGE_REFERENCE, load_measures
from lanthanide_screening.matching.loaders import load_lists

PACKAGE_LISTS = PACKAGE_REFERENCE / "lists"
MEASURES = "measures"
DATASET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class ReferenceStoreError(ValueError):
    """Reference data could not be stored or activated; the message says what and why."""


@dataclass(frozen=True, slots=True)
class Dataset:
    """One reference dataset version: where its file is and what it claims to be."""

    dataset: str
    kind: str  # "list" or "measures"
    version: str
    date: str | None
    sha256: str
    path: Path
    origin: str  # "package" or what the operator gave (file name or URL)

    def as_row(self, active: bool) -> dict[str, Any]:
        """A row for `lanthanide reference list`."""
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "version": self.version,
            "date": self.date,
            "sha256": self.sha256,
            "origin": self.origin,
            "active": active,
        }


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def packaged() -> list[Dataset]:
    """The datasets the package ships (lists from the manifest, plus the measures)."""
    manifest = orjson.loads((PACKAGE_LISTS / "manifest.json").read_bytes())
    out = [
        Dataset(d["dataset"], d["kind"], d["version"], d.get("date"), d["sha256"], PACKAGE_LISTS / d["file"], "package")
        for d in manifest["datasets"]
    ]
    measures = PACKAGE_REFERENCE / "measures.yaml"
    m = load_measures(measures)
    out.append(Dataset(MEASURES, MEASURES, m.version, None, sha256_of(measures), measures, "package"))
    return out


def validate(path: Path, dataset: str) -> str:
    """Load the file as screening would (lists or measures); the error names file and field."""
    if not DATASET_NAME.match(dataset):
        raise ReferenceStoreError(f"dataset {dataset!r}: use lower-case letters, digits, '-' or '_'")
    if dataset == MEASURES:
        m = load_measures(path)
        return f"measures {m.version}: {len(m.measures)} measures"
    lists = load_lists(path)
    return ", ".join(f"{lst.list_id} ({lst.kind}): {len(lst.entries)} entries" for lst in lists)


class ReferenceStore:
    """The data dir's reference folder (one per screening instance or shared by a host's services)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "reference"

    def _meta(self, dataset: str, version: str) -> Path:
        return self.root / dataset / _safe(version) / "meta.json"

    def store(self, source: Path, dataset: str, *, version: str | None, origin: str, today: date) -> Dataset:
        """Validate and store a file as a new version of a dataset (not yet active)."""
        validate(source, dataset)
        sha = sha256_of(source)
        version = version or f"{today.isoformat()}+sha256:{sha[:12]}"
        folder = self.root / dataset / _safe(version)
        meta_path = folder / "meta.json"
        if meta_path.exists():
            existing = orjson.loads(meta_path.read_bytes())
            if existing["sha256"] != sha:
                raise ReferenceStoreError(f"{dataset} version {version} is already stored with other content")
            return self._dataset(existing, folder)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (source.name if source.suffix else f"{dataset}.dat")
        target.write_bytes(source.read_bytes())
        meta = {
            "dataset": dataset,
            "kind": MEASURES if dataset == MEASURES else "list",
            "version": version,
            "date": today.isoformat(),
            "sha256": sha,
            "file": target.name,
            "origin": origin,
        }
        meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        return self._dataset(meta, folder)

    def _dataset(self, meta: dict[str, Any], folder: Path) -> Dataset:
        return Dataset(
            meta["dataset"],
            meta["kind"],
            meta["version"],
            meta.get("date"),
            meta["sha256"],
            folder / meta["file"],
            meta.get("origin", ""),
        )

    def stored(self) -> list[Dataset]:
        """Every stored version, oldest folder first."""
        if not self.root.is_dir():
            return []
        metas = sorted(self.root.glob("*/*/meta.json"), key=lambda p: p.stat().st_mtime)
        return [self._dataset(orjson.loads(p.read_bytes()), p.parent) for p in metas]

    def get(self, dataset: str, version: str) -> Dataset:
        """A stored version whose file still matches its recorded checksum."""
        meta_path = self._meta(dataset, version)
        if not meta_path.is_file():
            raise ReferenceStoreError(f"{dataset} version {version} is not stored in {self.root}")
        ds = self._dataset(orjson.loads(meta_path.read_bytes()), meta_path.parent)
        if not ds.path.is_file() or sha256_of(ds.path) != ds.sha256:
            raise ReferenceStoreError(f"{dataset} version {version}: stored file does not match its checksum")
        return ds

    def activate(self, dataset: str, version: str, checksum: str | None) -> Dataset:
        """Verify a stored version against the announced checksum and make it the active one."""
        ds = self.get(dataset, version)
        if checksum is not None and checksum != ds.sha256:
            raise ReferenceStoreError(
                f"{dataset} version {version}: announced checksum {checksum[:12]} does not match the stored "
                f"file ({ds.sha256[:12]})"
            )
        (self.root / dataset / "active").write_text(version, encoding="utf-8")
        return ds

    def active(self) -> dict[str, Dataset]:
        """Active stored versions by dataset (a version that fails its checksum is left out)."""
        out = {}
        for pointer in self.root.glob("*/active") if self.root.is_dir() else []:
            try:
                out[pointer.parent.name] = self.get(pointer.parent.name, pointer.read_text(encoding="utf-8").strip())
            except ReferenceStoreError:
                continue
        return out

    def effective(self) -> dict[str, Dataset]:
        """What screening loads by default: the packaged datasets, replaced by active stored ones."""
        chosen = {d.dataset: d for d in packaged()}
        chosen.update(self.active())
        return chosen


def _safe(version: str) -> str:
    # A version becomes a folder name: keep it to a plain, portable file name.
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._+:-]{0,79}$", version):
        raise ReferenceStoreError(f"version {version!r}: use letters, digits and . _ + : - (at most 80)")
    return version.replace(":", "_")
