"""Screening domain: pure rules over the contracts' models (no Kafka, HTTP or database)."""
