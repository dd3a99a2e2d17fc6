"""The AsyncAPI documents in docs/asyncapi: what `make docs` generates now, and accepted by the
official AsyncAPI parser (@asyncapi/parser from npm, pinned by tests/contract/asyncapi's lock
file and installed under .cache/ on first use)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PARSER_SRC = Path(__file__).parent / "asyncapi"
PARSER_DIR = REPO / ".cache" / "asyncapi-parser"


@pytest.fixture(scope="module")
def parser() -> Path:
    """The parser's folder, installed from the committed lock file (npm ci) when missing or stale."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed (apt-get install nodejs npm)")
    PARSER_DIR.mkdir(parents=True, exist_ok=True)
    lock = (PARSER_SRC / "package-lock.json").read_bytes()
    installed = PARSER_DIR / "package-lock.json"
    if not (PARSER_DIR / "node_modules" / "@asyncapi" / "parser").is_dir() or \
            not installed.exists() or installed.read_bytes() != lock:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PARSER_SRC / name, PARSER_DIR / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=PARSER_DIR,
                       check=True, capture_output=True, timeout=300)
    shutil.copy(PARSER_SRC / "validate.mjs", PARSER_DIR / "validate.mjs")
    return PARSER_DIR


def _parse(parser: Path, paths: list[Path]) -> dict[str, dict[str, Any]]:
    run = subprocess.run(["node", str(parser / "validate.mjs"), *map(str, paths)],
                         capture_output=True, text=True, timeout=120, cwd=parser)
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(paths), run.stdout + run.stderr
    return {Path(r["path"]).name: r for r in results}


def test_committed_documents_are_what_make_docs_generates(asyncapi: dict[str, dict[str, Any]]) -> None:
    for service, doc in asyncapi.items():
        committed = REPO / "docs" / "asyncapi" / f"{service}.json"
        assert committed.exists(), f"{committed} missing: run `make docs`"
        assert json.loads(committed.read_text()) == json.loads(json.dumps(doc, sort_keys=True)), (
            f"docs/asyncapi/{service}.json is stale: run `make docs`"
        )


def test_the_official_parser_accepts_every_document_and_rejects_a_broken_one(
    parser: Path, tmp_path: Path
) -> None:
    committed = sorted((REPO / "docs" / "asyncapi").glob("*.json"))
    assert {p.stem for p in committed} == {"intake", "screening", "review", "notification", "audit"}
    # The check can fail: a dangling $ref (what the old documents had 74 of) is an error.
    broken = json.loads((REPO / "docs" / "asyncapi" / "review.json").read_text())
    broken["components"]["schemas"].pop("DecisionMade")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    results = _parse(parser, [*committed, path])  # one parser run: Node's start-up is the cost
    assert results.pop("broken.json")["errors"]
    for name, result in results.items():
        assert result["parsed"] and not result["errors"], (name, result["errors"][:5])
