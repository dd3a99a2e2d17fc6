"""Restricted-party name matching: list loaders, normalisation, an n-gram index and scoring.

Pure Python (rapidfuzz, anyascii, pypinyin, numpy); knows nothing of Kafka or storage.
"""

from lanthanide_screening.matching.model import ListEntry, ListName, RestrictedList
from lanthanide_screening.matching.normalise import NormalisedName, normalise_name

__all__ = ["ListEntry", "ListName", "NormalisedName", "RestrictedList", "normalise_name"]
