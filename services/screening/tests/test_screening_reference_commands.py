"""`lanthanide reference list|load|fetch` and screening's handling of the announcement.

The announcement names dataset, version and checksum only; screening reloads its own stored copy
and refuses a version whose checksum does not match. fetch is exercised against a local HTTP server.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from click.testing import CliRunner
from lanthanide.contracts import Envelope, ReferenceUpdated
from lanthanide.events import EventFactory
from lanthanide_cli.main import build
from lanthanide_screening.adapters.reference_store import ReferenceStore
from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.bootstrap import build as build_screening
from lanthanide_screening.matching.loaders import load_lists
from lanthanide_screening.settings import PACKAGE_LISTS, ScreeningSettings

WATCH_CSV = (
    "list_id,entry_id,name,name_type,entity_type,country,program,list_kind\n"
    "ops-watch,W-1,Nordlicht Antriebe GmbH,primary,organization,DE,KYC-2027,watch\n"
)


class _Recorder:
    """Stands in for LanthanideClient: records what the CLI would publish."""

    published: ClassVar[list[tuple[str, Envelope[Any]]]] = []

    def __init__(self, *_a: Any, **_k: Any) -> None: ...

    async def __aenter__(self) -> _Recorder:
        return self

    async def __aexit__(self, *_exc: object) -> None: ...

    async def publish(self, topic: str, envelope: Envelope[Any]) -> None:
        self.published.append((topic, envelope))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[_Recorder]:
    import lanthanide.client

    _Recorder.published = []
    monkeypatch.setattr(lanthanide.client, "LanthanideClient", _Recorder)
    return _Recorder


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("LANTHANIDE_DATA_DIR", str(d))
    monkeypatch.delenv("LANTHANIDE_SCREENING_LISTS", raising=False)
    return d


@pytest.fixture
async def screening(data_dir: Path) -> AsyncIterator[Screening]:
    s = build_screening(ScreeningSettings())
    await s.store.start()
    yield s
    await s.store.close()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(*args: str) -> Any:
    return CliRunner().invoke(build(), list(args), catch_exceptions=False)


def _watch_names(s: Screening) -> set[str]:
    return {e.primary_name for lst in s.engine.index.lists if lst.kind == "watch" for e in lst.entries}


def test_reference_list_shows_what_the_package_ships(data_dir: Path) -> None:
    result = _run("reference", "list", "--json")
    rows = [orjson.loads(line) for line in result.output.splitlines()]
    manifest = orjson.loads((PACKAGE_LISTS / "manifest.json").read_bytes())
    by_dataset = {r["dataset"]: r for r in rows}
    assert set(by_dataset) == {"prc", "un", "watch", "measures"}
    for d in manifest["datasets"]:
        assert by_dataset[d["dataset"]]["version"] == d["version"]
        assert by_dataset[d["dataset"]]["sha256"] == d["sha256"]
        assert by_dataset[d["dataset"]]["active"] and by_dataset[d["dataset"]]["date"] == d["date"]


async def test_load_announces_by_checksum_and_screening_reloads_its_own_copy(
    data_dir: Path, tmp_path: Path, recorder: type[_Recorder], screening: Screening
) -> None:
    assert "Nordlicht Antriebe GmbH" not in _watch_names(screening)
    new = tmp_path / "ops-watch.csv"
    new.write_text(WATCH_CSV)
    # The CLI runs its own event loop: off this test's loop, as from a shell.
    result = await asyncio.to_thread(_run, "reference", "load", str(new), "--kind", "watch", "--version", "2027-01")
    assert result.exit_code == 0, result.output
    [(topic, envelope)] = recorder.published
    update: ReferenceUpdated = envelope.payload
    assert topic.endswith("lanthanide.reference.updates")
    assert (update.kind, update.list_id, update.version, update.path) == ("list", "watch", "2027-01", None)
    assert update.checksum is not None and len(update.checksum) == 64
    # Stored under the data directory with its version and checksum (what the event names).
    stored = ReferenceStore(data_dir).get("watch", "2027-01")
    assert stored.path.is_relative_to(data_dir / "reference") and stored.sha256 == update.checksum
    assert hashlib.sha256(stored.path.read_bytes()).hexdigest() == update.checksum
    assert stored.path.read_text() == WATCH_CSV
    await screening.handle_reference(envelope)
    assert _watch_names(screening) == {"Nordlicht Antriebe GmbH"}  # replaces the packaged watch list
    listed = (await asyncio.to_thread(_run, "reference", "list", "--json")).output
    active = [orjson.loads(r) for r in listed.splitlines() if orjson.loads(r)["active"]]
    assert any(r["dataset"] == "watch" and r["version"] == "2027-01" for r in active)
    # A restart keeps the activated version.
    assert "Nordlicht Antriebe GmbH" in _watch_names(build_screening(ScreeningSettings()))


async def test_an_announcement_whose_checksum_does_not_match_is_refused(
    data_dir: Path, tmp_path: Path, screening: Screening
) -> None:
    new = tmp_path / "ops-watch.csv"
    new.write_text(WATCH_CSV)
    ReferenceStore(data_dir).store(new, "watch", version="v2", origin="test", today=date(2027, 1, 5))
    before = _watch_names(screening)
    forged = EventFactory("someone").new(
        "reference.updated",
        ReferenceUpdated(kind="list", list_id="watch", version="v2", checksum="0" * 64, path=str(new)),
    )
    assert await screening.handle_reference(forged) == []
    assert _watch_names(screening) == before
    # Tampering with the stored file after loading is caught the same way.
    stored = ReferenceStore(data_dir).get("watch", "v2")
    stored.path.write_text(WATCH_CSV.replace("Nordlicht", "Suedlicht"))
    honest = EventFactory("cli").new(
        "reference.updated", ReferenceUpdated(kind="list", list_id="watch", version="v2", checksum=stored.sha256)
    )
    assert await screening.handle_reference(honest) == []
    assert _watch_names(screening) == before


def test_load_refuses_an_invalid_file_naming_the_problem(
    data_dir: Path, tmp_path: Path, recorder: type[_Recorder]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("list_id,entry_id,name\nops,1,\n")
    result = _run("reference", "load", str(bad), "--kind", "ops")
    assert result.exit_code != 0 and "empty name" in result.output
    assert recorder.published == [] and not (data_dir / "reference" / "ops").exists()


def test_fetch_downloads_validates_and_stores(
    data_dir: Path, http_root: tuple[Path, str], recorder: type[_Recorder]
) -> None:
    root, base = http_root
    (root / "targets.csv").write_text(WATCH_CSV)
    result = _run("reference", "fetch", f"{base}/targets.csv", "--kind", "ops-watch")
    assert result.exit_code == 0, result.output
    [(_, envelope)] = recorder.published
    stored = ReferenceStore(data_dir).get("ops-watch", envelope.payload.version)
    assert stored.path.read_text() == WATCH_CSV and stored.origin == f"{base}/targets.csv"
    # An OpenSanctions export of the UN Security Council list: a sanctions list (denies).
    (root / "targets.simple.csv").write_text(
        "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,dataset,"
        "first_seen,last_seen,last_change\n"
        'NK-1,Organization,Korea Kumryong Trading Corporation,"Kumryong Trading;KKTC",,kp,,,UNSC 1718,,,'
        "UN Security Council Consolidated List,2016-03-02,2026-11-30,2026-11-30\n"
    )
    osx = _run("reference", "fetch", f"{base}/targets.simple.csv", "--kind", "un-opensanctions", "--no-announce")
    assert osx.exit_code == 0, osx.output
    [lst] = load_lists(ReferenceStore(data_dir).stored()[-1].path)
    assert lst.kind == "sanctions" and [n.name for n in lst.entries[0].names][1:] == ["Kumryong Trading", "KKTC"]
    missing = _run("reference", "fetch", f"{base}/nothing.csv", "--kind", "ops-watch")
    assert missing.exit_code != 0 and "404" in missing.output
