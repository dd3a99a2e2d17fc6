"""Lanthanide contracts library: events, topics, serde, settings, logging, Kafka helpers, client, CLI."""

__version__ = "0.1.0"
