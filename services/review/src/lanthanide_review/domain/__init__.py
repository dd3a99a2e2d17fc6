"""Review domain: plain Python (no Kafka, HTTP or database imports)."""
