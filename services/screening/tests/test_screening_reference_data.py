"""The lists the package ships: checksums as the manifest says, reproducible from the public sources."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from lanthanide_screening.matching.loaders import load_lists
from lanthanide_screening.settings import PACKAGE_LISTS, default_lists

from .conftest import shared_data_dir

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "convert_lists.py"


def test_manifest_names_every_shipped_file_with_its_checksum_and_origin() -> None:
    manifest = orjson.loads((PACKAGE_LISTS / "manifest.json").read_bytes())
    datasets = {d["dataset"]: d for d in manifest["datasets"]}
    assert set(datasets) == {"prc", "un", "watch"}
    for d in datasets.values():
        data = (PACKAGE_LISTS / d["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == d["sha256"]
        assert d["version"].endswith(d["sha256"][:12]) and d["date"] and d["source_sha256"]
        assert len(data) < 1_000_000  # small enough to commit
    assert datasets["prc"]["source"]["commit"] and datasets["un"]["source"]["repository"].startswith("github.com/")
    assert sorted(p.name for p in default_lists()) == ["prc.json", "un.json", "watch.json"]


def test_shipped_lists_load_with_their_kinds() -> None:
    kinds = {lst.list_id: (lst.kind, len(lst.entries)) for p in default_lists() for lst in load_lists(p)}
    assert kinds["cn-export-control-list"] == ("control", 102)
    assert kinds["cn-watch-list"][0] == "watch" and kinds["cn-watch-list"][1] >= 10
    assert kinds["un-consolidated"][0] == "sanctions"


@pytest.mark.skipif(not (shared_data_dir() / "lists" / "prc").is_dir(), reason="raw list sources not available")
def test_the_converter_reproduces_the_shipped_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(SCRIPT), str(shared_data_dir() / "lists"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("prc.json", "un.json", "watch.json", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (PACKAGE_LISTS / name).read_bytes(), name
