"""Lanthanide contracts library: events, topics, serde, settings, Kafka factory and the Python client.

The services' runtime modules (logging, runtime, db, health) need the `service` extra; the CLI is
the lanthanide-cli distribution."""

__version__ = "0.1.0"
