"""Lanthanide screening: item classification, restricted-party screening, end use, red flags, route."""

__version__ = "0.1.0"
