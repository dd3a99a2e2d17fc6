"""Screening's use cases and the registry of the events it handles."""
