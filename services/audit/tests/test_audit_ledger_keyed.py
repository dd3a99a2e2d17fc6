"""The keyed MAC chain and signed checkpoints on a real store (SQLite, and PostgreSQL where the
`postgres` marker runs): truncating, rewinding and re-hashing a ledger each fail verify; an
honest ledger verifies."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lanthanide.serde import encode
from lanthanide.topics import Topics
from lanthanide_audit.adapters.store import LedgerStore, chain_head, ledger
from lanthanide_audit.bootstrap import MissingKeyError, require_keys
from lanthanide_audit.checkpointer import Checkpointer
from lanthanide_audit.domain.checkpoints import Checkpoint, sign
from lanthanide_audit.domain.ledger import GENESIS, LedgerKey, entry_hash, entry_mac
from lanthanide_audit.domain.records import entry_from_record
from lanthanide_audit.settings import AuditSettings
from lanthanide_audit.views import verify
from lanthanide_cli.main import build as build_cli

KEY = LedgerKey.of("ledger-key-" + "a" * 32)
SIGNER = Ed25519PrivateKey.generate()
PUBLIC = [SIGNER.public_key()]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def honest(store_url: str, story: list[tuple[str, Any]]) -> AsyncIterator[tuple[LedgerStore, list[Checkpoint]]]:
    """A keyed ledger of the story's 6 events with signed checkpoints at positions 3 and 6."""
    published: list[Checkpoint] = []

    async def publish(cp: Checkpoint) -> None:
        published.append(cp)

    store = LedgerStore.from_url(store_url, KEY)
    await store.create_schema()
    checkpointer = Checkpointer(store, SIGNER, publish, interval=60)
    entries = [entry_from_record(encode(e), t, 0, i) for i, (t, e) in enumerate(story)]
    try:
        await store.append(entries[:3])
        assert await checkpointer.checkpoint() is not None
        assert await checkpointer.checkpoint() is None  # the head did not move: nothing new to sign
        await store.append(entries[3:])
        await checkpointer.checkpoint()
        yield store, published
    finally:
        await store.close()


async def _rows(store: LedgerStore) -> list[Any]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(sa.select(ledger).order_by(ledger.c.seq))).mappings())


async def _cut_after(store: LedgerStore, seq: int) -> None:
    """What a database writer can do: delete the tail and set the head to match."""
    rows = await _rows(store)
    async with store.engine.begin() as conn:
        await conn.execute(ledger.delete().where(ledger.c.seq > seq))
        await conn.execute(chain_head.update().values(seq=seq, hash=rows[seq - 1]["hash"] if seq else GENESIS))


async def test_an_honest_keyed_ledger_verifies_against_its_checkpoints(
    honest: tuple[LedgerStore, list[Checkpoint]],
) -> None:
    store, published = honest
    assert [cp.position for cp in published] == [3, 6]
    rows = await _rows(store)
    assert {r["key_id"] for r in rows} == {KEY.key_id}
    assert rows[-1]["hash"] == published[-1].head_mac
    report = await verify(store, [KEY], published, PUBLIC)
    assert report.ok, report.broken
    assert (report.checked, report.checkpoints, report.checkpoint_position) == (6, 2, 6)
    # The MAC is keyed: the plain sha256 of the same bytes is not what is stored.
    first = rows[0]
    assert first["hash"] != entry_hash(GENESIS, first["canonical"], 1, first["topic"], first["partition"],
                                       first["offset"])


async def test_a_truncated_ledger_fails_verify_naming_the_position(
    honest: tuple[LedgerStore, list[Checkpoint]],
) -> None:
    store, published = honest
    assert (await verify(store, [KEY], published, PUBLIC)).ok
    await _cut_after(store, 4)  # chain and head agree again: only a checkpoint knows better
    without = await verify(store, [KEY])
    assert without.ok  # the weakness this fixes: a consistent cut passes the chain walk alone
    report = await verify(store, [KEY], published, PUBLIC)
    assert report.broken is not None
    assert report.broken.seq == 6 and "truncated" in report.broken.reason
    assert "holds 4 verified records" in report.broken.reason


async def test_a_rewound_ledger_fails_verify_even_after_it_grew_again(
    honest: tuple[LedgerStore, list[Checkpoint]],
) -> None:
    store, published = honest
    await _cut_after(store, 4)
    # The service (holding the key) appends other records: the chain is valid and as long again.
    others = [entry_from_record(f"\xff other {i}".encode(), Topics.APPLICATIONS_SUBMITTED, 1, 900 + i)
              for i in range(3)]
    assert await store.append(others) == 3
    assert (await verify(store, [KEY])).ok
    report = await verify(store, [KEY], published, PUBLIC)
    assert report.broken is not None
    assert report.broken.seq == 6 and "rewound" in report.broken.reason


async def _rehash(store: LedgerStore, from_seq: int, mac: Any, key_id: str | None, alter: bool = True) -> None:
    """Alter the record at `from_seq` (unless it already was) and recompute the chain from there
    with `mac`."""
    rows = await _rows(store)
    prev = rows[from_seq - 2]["hash"] if from_seq > 1 else GENESIS
    async with store.engine.begin() as conn:
        for r in rows[from_seq - 1:]:
            canonical = bytes(r["canonical"])
            if alter and r["seq"] == from_seq:
                canonical = canonical.replace(b"standard", b"enhanced")
                assert canonical != bytes(r["canonical"])
            h = mac(prev, canonical, r["seq"], r["topic"], r["partition"], r["offset"])
            await conn.execute(ledger.update().where(ledger.c.seq == r["seq"]).values(
                canonical=canonical, prev_hash=prev, hash=h, key_id=key_id))
            prev = h
        await conn.execute(chain_head.update().values(seq=rows[-1]["seq"], hash=prev))


async def test_a_ledger_rehashed_without_the_key_fails_verify(
    honest: tuple[LedgerStore, list[Checkpoint]], story: list[tuple[str, Any]],
) -> None:
    store, published = honest
    seq = next(i + 1 for i, (_, e) in enumerate(story) if b"standard" in encode(e))
    # Re-hashed as sha256 but keeping the key id: the MAC does not match.
    await _rehash(store, seq, entry_hash, KEY.key_id)
    report = await verify(store, [KEY], published, PUBLIC)
    assert report.broken is not None and report.broken.seq == seq
    assert "MAC does not match" in report.broken.reason


async def test_a_ledger_rehashed_as_unkeyed_or_under_another_key_fails_verify(
    honest: tuple[LedgerStore, list[Checkpoint]], story: list[tuple[str, Any]],
) -> None:
    store, published = honest
    seq = next(i + 1 for i, (_, e) in enumerate(story) if b"standard" in encode(e))
    assert seq > 1
    await _rehash(store, seq, entry_hash, None)
    unkeyed = await verify(store, [KEY], published, PUBLIC)
    assert unkeyed.broken is not None and unkeyed.broken.seq == seq and "unkeyed" in unkeyed.broken.reason

    forger = LedgerKey.of("not-the-ledger-key-" + "b" * 20)
    await _rehash(store, seq, lambda *a: entry_mac(forger, *a), forger.key_id, alter=False)
    other = await verify(store, [KEY], published, PUBLIC)
    assert other.broken is not None and other.broken.seq == seq
    assert "not a trusted ledger key" in other.broken.reason

    # Even the whole ledger re-hashed as legacy rows: the checkpoints name another head.
    await _rehash(store, 1, entry_hash, None, alter=False)
    legacy = await verify(store, [KEY], published, PUBLIC)
    assert legacy.broken is not None and legacy.broken.seq == 3 and "rewritten" in legacy.broken.reason


async def test_forged_checkpoints_are_not_trusted(honest: tuple[LedgerStore, list[Checkpoint]]) -> None:
    store, published = honest
    forged = sign(Ed25519PrivateKey.generate(), 99, "f" * 64, KEY.key_id)
    tampered = Checkpoint(**{**published[-1].as_dict(), "position": 99})
    report = await verify(store, [KEY], [forged, tampered], PUBLIC)
    assert report.ok and report.checkpoints == 2  # only the two genuine stored ones count
    assert (await verify(store, [KEY], [forged, tampered], [forged_key := Ed25519PrivateKey.generate().public_key()])
            ).checkpoints == 0 and forged_key is not None


async def test_rotated_keys_verify_older_rows_while_trusted(store_url: str, story: list[tuple[str, Any]]) -> None:
    entries = [entry_from_record(encode(e), t, 0, i) for i, (t, e) in enumerate(story)]
    new_key = LedgerKey.of("the-next-ledger-key-" + "c" * 20)
    old, new = LedgerStore.from_url(store_url, KEY), LedgerStore.from_url(store_url, new_key)
    await old.create_schema()
    try:
        await old.append(entries[:3])
        await new.append(entries[3:])
        assert {r["key_id"] for r in await _rows(new)} == {KEY.key_id, new_key.key_id}
        assert (await verify(new, [new_key, KEY])).ok
        only_new = await verify(new, [new_key])
        assert only_new.broken is not None and only_new.broken.seq == 1
    finally:
        await old.close()
        await new.close()


async def test_a_pre_mac_ledger_keeps_verifying_and_new_rows_are_keyed(
    store_url: str, story: list[tuple[str, Any]],
) -> None:
    entries = [entry_from_record(encode(e), t, 0, i) for i, (t, e) in enumerate(story)]
    legacy, keyed = LedgerStore.from_url(store_url), LedgerStore.from_url(store_url, KEY)
    await legacy.create_schema()
    try:
        await legacy.append(entries[:2])
        await keyed.append(entries[2:])
        report = await verify(keyed, [KEY])
        assert report.ok and report.legacy == 2 and report.checked == len(entries)
    finally:
        await legacy.close()
        await keyed.close()


def _hex_key(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption()).hex()


async def test_cli_verify_names_the_truncated_position(
    honest: tuple[LedgerStore, list[Checkpoint]], store_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, _published = honest
    monkeypatch.setenv("LANTHANIDE_AUDIT_LEDGER_KEY", KEY.secret.decode())
    monkeypatch.setenv("LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY", _hex_key(SIGNER))
    runner = CliRunner()

    def run() -> Any:
        return runner.invoke(build_cli(), ["audit", "verify", "--checkpoints", "stored", "--db-url", store_url])

    ok = await asyncio.to_thread(run)
    assert ok.exit_code == 0, ok.output
    assert "ledger OK: 6 records" in ok.output and "2 signed checkpoints agree" in ok.output
    await _cut_after(store, 5)
    broken = await asyncio.to_thread(run)
    assert broken.exit_code == 1, broken.output
    assert "ledger BROKEN at seq 6" in broken.output and "truncated" in broken.output
    monkeypatch.delenv("LANTHANIDE_AUDIT_LEDGER_KEY")
    keyless = await asyncio.to_thread(run)
    assert keyless.exit_code == 1 and "no ledger key" in keyless.output


def test_the_service_refuses_to_start_without_its_keys(tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError, match=r"LEDGER_KEY.*CHECKPOINT_SIGNING_KEY"):
        require_keys(AuditSettings(data_dir=tmp_path))
    key_file = tmp_path / "ledger_key"
    key_file.write_text(hashlib.sha256(b"x").hexdigest() + "\n")
    settings = AuditSettings(data_dir=tmp_path, ledger_key_file=key_file,
                             checkpoint_signing_key=_hex_key(SIGNER))
    require_keys(settings)
    assert settings.ledger_keys()[0] == LedgerKey.of(hashlib.sha256(b"x").hexdigest())
    with pytest.raises(ValueError, match="at least 16 bytes"):
        AuditSettings(data_dir=tmp_path, ledger_key="short").ledger_keys()
