"""Settings of the audit service (LANTHANIDE_AUDIT_* environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lanthanide.auth import TokenSettings
from lanthanide.settings import ServiceSettings
from lanthanide.topics import Topics
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lanthanide_audit import GROUP_ID, SERVICE

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from lanthanide_audit.domain.ledger import LedgerKey


class AuditSettings(ServiceSettings, TokenSettings):
    """Where the ledger lives and which topics it reads."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_AUDIT_", extra="ignore")

    store_name = SERVICE

    group_id: str = GROUP_ID

    #: The MAC key of the ledger chain (HMAC-SHA256; at least 16 bytes). It must live outside the
    #: database: whoever can rewrite the ledger table must not hold it. _FILE (a mounted secret) wins.
    ledger_key: SecretStr | None = None
    ledger_key_file: Path | None = None
    #: Keys rotated out, still trusted to verify older rows (comma-separated).
    ledger_previous_keys: SecretStr | None = None
    #: The Ed25519 key that signs checkpoints (PEM, or 32 bytes as hex/base64); _FILE wins.
    checkpoint_signing_key: SecretStr | None = None
    checkpoint_signing_key_file: Path | None = None
    #: Public keys that verify accepts checkpoints from (comma-separated hex/base64, or a PEM
    #: file's path); the signing key's own public key is always accepted.
    checkpoint_public_keys: str = ""
    #: How often a checkpoint is signed and published while the head moves (and once at shutdown).
    checkpoint_interval_seconds: float = Field(default=60.0, gt=0)

    def checkpoint_topic(self) -> str:
        return self.topic(Topics.AUDIT_CHECKPOINTS)

    @staticmethod
    def _secret(value: SecretStr | None, file: Path | None, name: str) -> str | None:
        if file is not None:
            try:
                return file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"LANTHANIDE_AUDIT_{name}_FILE: cannot read {file}: {exc.strerror}") from None
        return value.get_secret_value().strip() if value is not None else None

    def ledger_keys(self) -> list[LedgerKey]:
        """The current ledger key first, then the previous ones (empty if none is set)."""
        from lanthanide_audit.domain.ledger import LedgerKey

        current = self._secret(self.ledger_key, self.ledger_key_file, "LEDGER_KEY")
        previous = self.ledger_previous_keys.get_secret_value() if self.ledger_previous_keys else ""
        texts = ([current] if current else []) + [p.strip() for p in previous.split(",") if p.strip()]
        try:
            return [LedgerKey.of(t) for t in texts]
        except ValueError as exc:
            raise ValueError(f"LANTHANIDE_AUDIT_LEDGER_KEY: {exc}") from None

    def signing_key(self) -> Ed25519PrivateKey | None:
        from lanthanide_audit.domain.checkpoints import load_private_key

        text = self._secret(self.checkpoint_signing_key, self.checkpoint_signing_key_file, "CHECKPOINT_SIGNING_KEY")
        if not text:
            return None
        try:
            return load_private_key(text)
        except ValueError as exc:
            raise ValueError(f"LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY: {exc}") from None

    def public_keys(self) -> list[Ed25519PublicKey]:
        """The keys whose checkpoints verify trusts."""
        from lanthanide_audit.domain.checkpoints import load_public_key

        keys = []
        for part in (p.strip() for p in self.checkpoint_public_keys.split(",")):
            if part:
                path = Path(part)
                keys.append(load_public_key(path.read_bytes() if path.is_file() else part))
        signing = self.signing_key()
        if signing is not None:
            keys.append(signing.public_key())
        return keys
