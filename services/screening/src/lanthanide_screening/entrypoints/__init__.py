"""Entrypoints: the Kafka stage and the HTTP app."""
