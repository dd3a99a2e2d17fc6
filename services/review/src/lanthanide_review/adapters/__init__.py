"""Adapters: the database store, the outbox relay, migrations."""
