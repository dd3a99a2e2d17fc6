"""Entrypoints: the Kafka consumer and the reviewer HTTP API."""
