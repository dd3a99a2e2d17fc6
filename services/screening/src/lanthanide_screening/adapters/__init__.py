"""Adapters: reference-data loading, stores and the case projection."""
