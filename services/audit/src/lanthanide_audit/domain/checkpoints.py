"""Signed checkpoints of the ledger: (position, head MAC, time, key id), signed with Ed25519.

The audit service signs one periodically and at shutdown, stores it beside the ledger and
publishes it to the audit.checkpoints topic. Anyone with the public key can check a checkpoint
without the MAC key. Verification compares the ledger against them:

- truncation: the ledger holds fewer records than a checkpoint's position;
- rewind: the record at a checkpoint's position has another MAC than the checkpoint says
  (rows were cut and the chain re-grown, or the head row was rewritten);
- re-hash without the key is caught by the MAC chain itself (ledger.ChainVerifier).

Pure Python (the `cryptography` package for Ed25519): no SQL, no Kafka.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lanthanide_audit.domain.ledger import Break


def public_key_id(key: Ed25519PublicKey) -> str:
    """A short id of a signing key (sha256 of its raw public bytes)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(text: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS8) or 32 raw bytes written as hex or base64."""
    data = text.encode() if isinstance(text, str) else text
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the checkpoint signing key must be an Ed25519 key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw32(data, "checkpoint signing key"))


def load_public_key(text: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or 32 raw bytes as hex or base64."""
    data = text.encode() if isinstance(text, str) else text
    data = data.strip()
    if data.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the checkpoint public key must be an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw32(data, "checkpoint public key"))


def _raw32(data: bytes, what: str) -> bytes:
    candidates = []
    try:
        candidates.append(bytes.fromhex(data.decode("ascii")))
    except ValueError:
        pass
    try:
        candidates.append(base64.b64decode(data, validate=True))
    except ValueError:
        pass
    for raw in candidates:
        if len(raw) == 32:
            return raw
    raise ValueError(f"the {what} must be PEM or 32 bytes as hex or base64")


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: at `at`, the ledger held `position` records ending in `head_mac`."""

    position: int
    head_mac: str
    at: str
    key_id: str | None
    signer: str
    signature: str

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.position, self.head_mac, self.at, self.key_id, self.signer)

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "head_mac": self.head_mac, "at": self.at, "key_id": self.key_id,
                "signer": self.signer, "signature": self.signature}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Checkpoint:
        return cls(int(value["position"]), str(value["head_mac"]), str(value["at"]),
                   None if value.get("key_id") is None else str(value["key_id"]),
                   str(value["signer"]), str(value["signature"]))


def signed_bytes(position: int, head_mac: str, at: str, key_id: str | None, signer: str) -> bytes:
    return orjson.dumps({"position": position, "head_mac": head_mac, "at": at, "key_id": key_id,
                         "signer": signer}, option=orjson.OPT_SORT_KEYS)


def sign(key: Ed25519PrivateKey, position: int, head_mac: str, key_id: str | None,
         at: datetime | None = None) -> Checkpoint:
    """A checkpoint of the head (position, head_mac), signed now (or at `at`)."""
    when = (at or datetime.now(UTC)).isoformat()
    signer = public_key_id(key.public_key())
    signature = key.sign(signed_bytes(position, head_mac, when, key_id, signer))
    return Checkpoint(position, head_mac, when, key_id, signer, base64.b64encode(signature).decode())


def signature_ok(cp: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> bool:
    """True if a trusted key (by signer id) signed exactly this checkpoint."""
    key = keys.get(cp.signer)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(cp.signature), cp.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


def trusted(checkpoints: Iterable[Checkpoint], keys: Iterable[Ed25519PublicKey]) -> tuple[list[Checkpoint], int]:
    """The checkpoints with a valid signature by one of `keys` (sorted by position), and how many
    were dropped for a bad or unknown signature (forged checkpoints are ignored, never trusted)."""
    by_id = {public_key_id(k): k for k in keys}
    good: list[Checkpoint] = []
    bad = 0
    seen: set[tuple[int, str]] = set()
    for cp in checkpoints:
        if not signature_ok(cp, by_id):
            bad += 1
        elif (cp.position, cp.head_mac) not in seen:
            seen.add((cp.position, cp.head_mac))
            good.append(cp)
    good.sort(key=lambda c: (c.position, c.at))
    return good, bad


def compare(
    checkpoints: Iterable[Checkpoint], checked: int, seen: Mapping[int, tuple[str, str | None]]
) -> Break | None:
    """The first checkpoint the ledger contradicts: `checked` records verified, `seen` the MAC
    (and key id) found at each checkpoint position."""
    for cp in sorted(checkpoints, key=lambda c: c.position):
        if cp.position == 0:
            continue
        if cp.position > checked:
            return Break(cp.position, "", (
                f"truncated: the ledger holds {checked} verified records but the checkpoint signed at "
                f"{cp.at} says position {cp.position} existed"))
        mac, key_id = seen.get(cp.position, ("", None))
        if mac != cp.head_mac or key_id != cp.key_id:
            return Break(cp.position, "", (
                f"rewound or rewritten: the record at position {cp.position} is not the one the checkpoint "
                f"signed at {cp.at} names (MAC {mac[:16] or '-'}… where {cp.head_mac[:16]}… was signed)"))
    return None
