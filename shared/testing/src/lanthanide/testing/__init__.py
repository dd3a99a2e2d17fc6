"""Test support shared by every service's tests: real Kafka, real PostgreSQL, service processes."""
