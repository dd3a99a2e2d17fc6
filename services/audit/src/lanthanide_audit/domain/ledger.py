"""The MAC chain: canonical bytes, entry MACs, and verification of a stored chain.

Each entry's MAC is HMAC-SHA256, keyed with a ledger key that lives outside the database
(LANTHANIDE_AUDIT_LEDGER_KEY or _FILE), over: the previous entry's hash (hex), a newline, the canonical
event bytes, a newline, and the entry's position "seq|topic|partition|offset". Including the
position means a row moved or re-attributed to another topic breaks the chain as surely as an
edited payload. The first entry's previous hash is GENESIS. Each
row records the id of the key that MACed it (`key_id`, derived from the key), so keys can rotate:
verification takes every key still trusted. Rows written before keyed MACs (key_id NULL) carry a
plain sha256 over the same bytes; they are accepted only as the ledger's prefix, before the first
keyed row. Whoever can write the table but lacks the key cannot re-hash an edited record.

Pure Python: no SQL, no Kafka.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

GENESIS = "0" * 64
UNDECODABLE = "undecodable"


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no insignificant whitespace, UTF-8."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_event(raw: bytes) -> bytes | None:
    """The canonical form of a record's JSON value, or None if it is not JSON."""
    try:
        return canonical_bytes(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None


def entry_hash(prev_hash: str, canonical: bytes, seq: int, topic: str, partition: int, offset: int) -> str:
    """The hash of one ledger entry, chained to `prev_hash`."""
    h = hashlib.sha256()
    h.update(prev_hash.encode("ascii"))
    h.update(b"\n")
    h.update(canonical)
    h.update(b"\n")
    h.update(f"{seq}|{topic}|{partition}|{offset}".encode())
    return h.hexdigest()


def _message(prev_hash: str, canonical: bytes, seq: int, topic: str, partition: int, offset: int) -> bytes:
    return b"".join((prev_hash.encode("ascii"), b"\n", canonical, b"\n",
                     f"{seq}|{topic}|{partition}|{offset}".encode()))


@dataclass(frozen=True, slots=True)
class LedgerKey:
    """A MAC key and its id (the id is derived from the key, so it names it without revealing it)."""

    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def of(cls, secret: bytes | str) -> LedgerKey:
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < 16:
            raise ValueError("a ledger key must be at least 16 bytes")
        return cls(hashlib.sha256(b"lanthanide-ledger-key-id\n" + raw).hexdigest()[:16], raw)


def entry_mac(key: LedgerKey, prev_hash: str, canonical: bytes, seq: int, topic: str, partition: int,
              offset: int) -> str:
    """The keyed MAC of one ledger entry, chained to `prev_hash`."""
    return hmac.new(key.secret, _message(prev_hash, canonical, seq, topic, partition, offset),
                    hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A record read from Kafka, ready to append (seq and hashes are assigned by the ledger)."""

    event_id: str
    event_type: str
    case_id: str | None
    correlation_id: str | None
    causation_id: str | None
    producer: str | None
    occurred_at: str | None
    topic: str
    partition: int
    offset: int
    canonical: bytes
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """An appended entry as stored."""

    seq: int
    event_id: str
    event_type: str
    case_id: str | None
    correlation_id: str | None
    causation_id: str | None
    producer: str | None
    occurred_at: str | None
    topic: str
    partition: int
    offset: int
    canonical: bytes
    prev_hash: str
    hash: str
    recorded_at: str
    error: str | None = None
    #: The id of the key that MACed this entry; None for a legacy (unkeyed sha256) entry.
    key_id: str | None = None

    def event(self) -> dict[str, Any] | None:
        """The stored event as JSON, or None for an undecodable record."""
        if self.event_type == UNDECODABLE:
            return None
        value = orjson.loads(self.canonical)
        return value if isinstance(value, dict) else None


def chain(entries: Iterable[NewEntry], head_seq: int, head_hash: str,
          key: LedgerKey | None = None) -> list[LedgerEntry]:
    """Assign seq, prev_hash and hash (the keyed MAC with `key`; legacy sha256 without) to new
    entries after the head (seq, hash)."""
    out: list[LedgerEntry] = []
    seq, prev = head_seq, head_hash
    now = datetime.now(UTC).isoformat()
    for e in entries:
        seq += 1
        h = (entry_mac(key, prev, e.canonical, seq, e.topic, e.partition, e.offset) if key is not None
             else entry_hash(prev, e.canonical, seq, e.topic, e.partition, e.offset))
        out.append(LedgerEntry(
            seq=seq, event_id=e.event_id, event_type=e.event_type, case_id=e.case_id,
            correlation_id=e.correlation_id, causation_id=e.causation_id, producer=e.producer,
            occurred_at=e.occurred_at, topic=e.topic, partition=e.partition, offset=e.offset,
            canonical=e.canonical, prev_hash=prev, hash=h, recorded_at=now, error=e.error,
            key_id=key.key_id if key is not None else None,
        ))
        prev = h
    return out


@dataclass(frozen=True, slots=True)
class Break:
    """The first place the chain does not hold."""

    seq: int
    event_id: str
    reason: str


def content_fingerprint(canonical: bytes) -> str:
    """What must be equal for a second record with a known event id to be the same event: the
    payload (a redelivered or re-emitted event may carry a new occurred_at or producer instance,
    never a different payload). Undecodable records compare by their bytes."""
    try:
        value = orjson.loads(canonical)
    except orjson.JSONDecodeError:
        value = None
    body = canonical_bytes(value.get("payload")) if isinstance(value, dict) else canonical
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class Conflict:
    """A record whose event id (or, for a decision, decision id) the ledger already holds with a
    different payload: a forgery or a bug upstream, never a duplicate. The first stays in the
    chain, this one is kept beside it. `id_kind` is "event_id" or "decision_id"."""

    id_kind: str
    conflict_id: str
    first_fingerprint: str
    entry: NewEntry

    @property
    def event_id(self) -> str:
        return self.entry.event_id

    @property
    def fingerprint(self) -> str:
        return content_fingerprint(self.entry.canonical)


def decision_id_of(entry: NewEntry) -> str | None:
    """The decision id of a decision.made entry (None for any other event)."""
    if entry.event_type != "decision.made":
        return None
    try:
        payload = orjson.loads(entry.canonical).get("payload") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return None
    value = payload.get("decision_id") if isinstance(payload, dict) else None
    return str(value) if value else None


def find_conflicts(
    entries: Sequence[NewEntry], stored: dict[str, bytes], stored_decisions: dict[str, str] | None = None
) -> list[Conflict]:
    """Conflicts among `entries` (in order) and against the ledger: `stored` maps known event
    ids to their canonical bytes, `stored_decisions` known decision ids to their fingerprints.
    The same bytes again, or the same payload, is a quiet duplicate."""
    first: dict[str, str] = {eid: content_fingerprint(c) for eid, c in stored.items()}
    decisions: dict[str, str] = dict(stored_decisions or {})
    out: list[Conflict] = []
    seen: set[tuple[str, str, str]] = set()
    for e in entries:
        fp = content_fingerprint(e.canonical)
        checks = [("event_id", e.event_id, first)]
        decision_id = decision_id_of(e)
        if decision_id is not None:
            checks.append(("decision_id", decision_id, decisions))
        for kind, key, known_ids in checks:
            known = known_ids.setdefault(key, fp)
            if known != fp:
                if (kind, key, fp) not in seen:
                    seen.add((kind, key, fp))
                    out.append(Conflict(kind, key, known, e))
                break  # one conflict per record (by its event id first) is enough to alarm and keep it
    return out


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of walking the chain; conflicts (event ids seen with two payloads) fail it too."""

    checked: int
    head_hash: str
    broken: Break | None
    conflicts: tuple[str, ...] = ()
    #: Leading entries from before keyed MACs (plain sha256).
    legacy: int = 0
    #: Signed checkpoints the ledger was compared against (and the latest one's position).
    checkpoints: int = 0
    checkpoint_position: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.conflicts


def _same(column: str | None, value: Any) -> bool:
    if column is None or value is None:
        return column is None and value is None
    try:
        return bool(UUID(column) == UUID(str(value)))
    except ValueError:
        return column == str(value)


def _columns_match(entry: LedgerEntry) -> str | None:
    """A row's indexed columns must agree with the hashed bytes, or a query could be misled."""
    event = entry.event()
    if event is None:
        return None
    for column, key in (("event_id", "event_id"), ("event_type", "event_type"), ("case_id", "case_id"),
                        ("causation_id", "causation_id")):
        if not _same(getattr(entry, column), event.get(key)):
            return f"column {column}={getattr(entry, column)!r} disagrees with the hashed event ({event.get(key)!r})"
    return None


class ChainVerifier:
    """Checks entries one at a time, in seq order, so a long ledger verifies in flat memory.

    `keys` are the trusted ledger keys (the current one and any rotated out); a keyed entry whose
    key id is not among them, or whose MAC does not match, breaks the chain. `watch` are positions
    whose MAC to remember (the checkpoints' positions, compared afterwards)."""

    def __init__(self, keys: Iterable[LedgerKey] = (), watch: Iterable[int] = ()) -> None:
        self.prev = GENESIS
        self.checked = 0
        self.broken: Break | None = None
        self.keys = {k.key_id: k for k in keys}
        self.legacy = 0
        self.watch = set(watch)
        self.seen: dict[int, tuple[str, str | None]] = {}

    def _expected(self, entry: LedgerEntry) -> tuple[str | None, str | None]:
        """(expected hash, reason it cannot be computed)."""
        args = (self.prev, entry.canonical, entry.seq, entry.topic, entry.partition, entry.offset)
        if entry.key_id is None:
            if self.checked > self.legacy:
                return None, ("an unkeyed record after keyed ones (re-hashed without the ledger key, "
                              "or the key id was removed)")
            return entry_hash(*args), None
        key = self.keys.get(entry.key_id)
        if key is None:
            return None, (f"MACed with key id {entry.key_id!r}, which is not a trusted ledger key"
                          if self.keys else "keyed record but no ledger key was given to verify it")
        return entry_mac(key, *args), None

    def feed(self, entry: LedgerEntry) -> bool:
        """Check the next entry; False (and `broken` set) at the first that does not hold."""
        if self.broken is not None:
            return False
        expected_seq = self.checked + 1
        reason = None
        if entry.seq != expected_seq:
            reason = f"seq {entry.seq} where {expected_seq} was expected (a row was removed)"
        elif entry.prev_hash != self.prev:
            reason = "prev_hash does not match the previous entry's hash"
        else:
            expected, reason = self._expected(entry)
            if reason is None and expected != entry.hash:
                reason = ("MAC does not match the stored bytes (the record was altered or re-hashed "
                          "without the ledger key)" if entry.key_id is not None
                          else "hash does not match the stored bytes (the record was altered)")
            if reason is None:
                reason = _columns_match(entry)
        if reason is not None:
            self.broken = Break(entry.seq, entry.event_id, reason)
            return False
        if entry.key_id is None:
            self.legacy += 1
        if entry.seq in self.watch:
            self.seen[entry.seq] = (entry.hash, entry.key_id)
        self.prev, self.checked = entry.hash, self.checked + 1
        return True

    def check_head(self, head_seq: int, head_hash: str) -> None:
        """After the last entry: the chain must end where the recorded head says."""
        if self.broken is None and (head_seq, head_hash) != (self.checked, self.prev):
            self.broken = Break(
                self.checked + 1, "",
                f"the ledger ends at seq {self.checked} but its head records seq {head_seq} "
                "(rows were removed from the end)",
            )

    def report(self) -> VerifyReport:
        return VerifyReport(self.checked, self.prev, self.broken, legacy=self.legacy)


def verify_entries(entries: Iterable[LedgerEntry], keys: Iterable[LedgerKey] = ()) -> VerifyReport:
    """Walk entries in seq order; report the first that breaks the chain."""
    verifier = ChainVerifier(keys)
    for entry in entries:
        if not verifier.feed(entry):
            break
    return verifier.report()
