"""Signs a checkpoint of the ledger's head periodically and at shutdown, stores it beside the
ledger and publishes it to the audit.checkpoints topic (with its own producer, so the last one
still goes out after the consuming broker stopped)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.domain.checkpoints import Checkpoint, sign

log = structlog.get_logger(__name__)

Publish = Callable[[Checkpoint], Awaitable[None]]


class Checkpointer:
    """One per audit process; `checkpoint()` signs the current head unless it was signed already."""

    def __init__(self, store: LedgerStore, key: Ed25519PrivateKey, publish: Publish, interval: float) -> None:
        self.store, self.key, self.publish, self.interval = store, key, publish, interval
        self.last: tuple[int, str] | None = None

    async def checkpoint(self) -> Checkpoint | None:
        """Sign, store and publish the head; None when the head has not moved since the last one."""
        seq, mac, key_id = await self.store.head_entry()
        if (seq, mac) == self.last:
            return None
        cp = sign(self.key, seq, mac, key_id)
        await self.store.save_checkpoint(cp)
        await self.publish(cp)
        self.last = (seq, mac)
        log.info("ledger_checkpoint", position=seq, head_mac=mac[:16], key_id=key_id, signer=cp.signer)
        return cp

    async def run(self) -> None:
        """Until cancelled: a checkpoint every `interval` seconds while the ledger grows."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # the next round tries again; the ledger itself is unaffected
                log.error("ledger_checkpoint_failed", error=repr(exc)[:300])
