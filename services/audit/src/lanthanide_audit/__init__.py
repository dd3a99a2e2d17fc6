"""Audit service: an append-only, hash-chained ledger of every event on every topic."""

SERVICE = "audit"
GROUP_ID = "lanthanide-audit"
