"""Candidate retrieval and scoring: an inverted index of tokens and character trigrams.

Never a full scan: a query looks up its rarest grams (whole tokens, then trigrams of the
order-independent key), counts shared grams per indexed name, and scores only the best
`candidates` names with rapidfuzz. Chinese names also match exactly on their Han key.

Score parts (each 0..1): `sort` token_sort_ratio of the core tokens (word order ignored),
`compact` ratio of the names without spaces (AeroVironment = Aero Vironment), `subset`
token_set_ratio discounted (one name's tokens contained in the other's). The score is the
best part, times penalties for an entity-type mismatch (person vs organisation, vessel) and
for conflicting legal forms.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from lanthanide_screening.matching.model import ListEntry, ListName, RestrictedList
from lanthanide_screening.matching.normalise import (
    NORMALISATION_VERSION,
    NormalisedName,
    normalise_name,
)

ALGORITHM_VERSION = f"ngram-rapidfuzz-1/{NORMALISATION_VERSION}"

SUBSET_DISCOUNT = 0.9          # a contained name is a possible match, never a certain one
SUBSET_SINGLE_TOKEN = 0.8      # ... and weaker when the shorter name is one word
TYPE_MISMATCH_PENALTY = 0.85   # person vs organisation
VEHICLE_PENALTY = 0.75         # vessel / aircraft vs a party that is neither
LEGAL_FORM_PENALTY = 0.97      # both names carry legal forms and they differ


def _trigrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _grams(name: NormalisedName) -> set[str]:
    grams = {"w:" + t for t in name.tokens}
    grams.update(_trigrams(name.sorted_key))
    if name.han:
        grams.add("h:" + name.han)
    return grams


@dataclass(frozen=True, slots=True)
class Match:
    """One scored match of a query against one name of one entry."""

    list_id: str
    list_kind: str
    list_version: str
    entry: ListEntry
    matched: ListName
    score: float
    parts: dict[str, float]
    shared_tokens: tuple[str, ...]
    penalties: tuple[str, ...]

    def explanation(self) -> str:
        """Why it matched: the name (and its type), the shared tokens and the score parts."""
        parts = ", ".join(f"{k}={v:.2f}" for k, v in self.parts.items())
        why = f"matched {self.matched.name_type} name {self.matched.name!r}"
        why += f"; shared tokens {list(self.shared_tokens)}; {parts}"
        if self.penalties:
            why += f"; penalties {list(self.penalties)}"
        return why


@dataclass(slots=True)
class NameIndex:
    """An inverted index over the names of one or more lists."""

    candidates: int = 48
    max_postings: int = 60_000
    lists: list[RestrictedList] = field(default_factory=list)
    _refs: list[tuple[int, int, int]] = field(default_factory=list)   # name -> list, entry, name
    _names: list[NormalisedName] = field(default_factory=list)
    _gram_ids: dict[str, int] = field(default_factory=dict)
    _pairs_gram: array[int] = field(default_factory=lambda: array("i"))
    _pairs_name: array[int] = field(default_factory=lambda: array("i"))
    _offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    _postings: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def add(self, lst: RestrictedList) -> None:
        """Index every name of every entry of a list (call `build` once after the last add)."""
        li = len(self.lists)
        self.lists.append(lst)
        for ei, entry in enumerate(lst.entries):
            for ni, name in enumerate(entry.names):
                norm = normalise_name(name.name)
                if not norm.tokens and not norm.han:
                    continue
                nid = len(self._names)
                self._names.append(norm)
                self._refs.append((li, ei, ni))
                for gram in _grams(norm):
                    gid = self._gram_ids.setdefault(gram, len(self._gram_ids))
                    self._pairs_gram.append(gid)
                    self._pairs_name.append(nid)

    def build(self) -> NameIndex:
        """Turn the collected (gram, name) pairs into compressed postings (CSR arrays)."""
        grams = np.frombuffer(self._pairs_gram, dtype=np.int32) if self._pairs_gram else np.zeros(0, np.int32)
        names = np.frombuffer(self._pairs_name, dtype=np.int32) if self._pairs_name else np.zeros(0, np.int32)
        order = np.argsort(grams, kind="stable")
        self._postings = names[order].copy()
        counts = np.bincount(grams, minlength=len(self._gram_ids))
        self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._pairs_gram = array("i")
        self._pairs_name = array("i")
        return self

    def __len__(self) -> int:
        return len(self._names)

    def _postings_of(self, gram: str) -> np.ndarray | None:
        gid = self._gram_ids.get(gram)
        if gid is None:
            return None
        return self._postings[self._offsets[gid] : self._offsets[gid + 1]]

    def _candidate_ids(self, query: NormalisedName) -> list[int]:
        found = [p for p in (self._postings_of(g) for g in _grams(query)) if p is not None and len(p)]
        if not found:
            return []
        # Rarest grams first, up to a budget: frequent trigrams add cost but little evidence.
        found.sort(key=len)
        budget, chosen = 0, []
        for postings in found:
            if chosen and budget + len(postings) > self.max_postings:
                break
            chosen.append(postings)
            budget += len(postings)
        ids, counts = np.unique(np.concatenate(chosen), return_counts=True)
        if len(ids) > self.candidates:
            top = np.argpartition(-counts, self.candidates)[: self.candidates]
            ids = ids[top]
        return [int(i) for i in ids]

    def search(
        self, name: str, *, entity_type: str | None = None, threshold: float = 0.0, top: int = 5
    ) -> list[Match]:
        """The best matches of a name, one per entry, best first, with score >= threshold."""
        query = normalise_name(name)
        if not query.tokens and not query.han:
            return []
        best: dict[tuple[int, int], Match] = {}
        for nid in self._candidate_ids(query):
            li, ei, ni = self._refs[nid]
            lst = self.lists[li]
            entry = lst.entries[ei]
            match = _score(query, self._names[nid], entity_type, entry, entry.names[ni], lst)
            if match.score >= threshold:
                key = (li, ei)
                if key not in best or match.score > best[key].score:
                    best[key] = match
        return sorted(best.values(), key=lambda m: (-m.score, m.list_id, m.entry.entry_id))[:top]


def _score(
    q: NormalisedName, e: NormalisedName, entity_type: str | None, entry: ListEntry,
    matched: ListName, lst: RestrictedList,
) -> Match:
    parts: dict[str, float] = {}
    if q.han and e.han and q.han == e.han:
        parts["han_exact"] = 1.0
    if q.tokens and e.tokens:
        parts["sort"] = fuzz.token_sort_ratio(q.key, e.key, processor=None) / 100
        parts["compact"] = fuzz.ratio(q.compact, e.compact, processor=None) / 100
        shorter = min(len(q.tokens), len(e.tokens))
        discount = SUBSET_DISCOUNT if shorter > 1 else SUBSET_SINGLE_TOKEN
        parts["subset"] = fuzz.token_set_ratio(q.key, e.key, processor=None) / 100 * discount
    score = max(parts.values(), default=0.0)
    penalties: list[str] = []
    if entity_type and entry.entity_type != entity_type:
        if entry.entity_type in ("vessel", "aircraft"):
            score *= VEHICLE_PENALTY
            penalties.append(f"entry is a {entry.entity_type}")
        elif {entity_type, entry.entity_type} == {"person", "organization"}:
            score *= TYPE_MISMATCH_PENALTY
            penalties.append(f"{entity_type} vs listed {entry.entity_type}")
    if q.legal_forms and e.legal_forms and not (q.legal_forms & e.legal_forms):
        score *= LEGAL_FORM_PENALTY
        penalties.append("different legal forms")
    return Match(
        list_id=lst.list_id, list_kind=lst.kind, list_version=lst.version, entry=entry,
        matched=matched, score=round(score, 4), parts=parts,
        shared_tokens=tuple(sorted(set(q.tokens) & set(e.tokens))), penalties=tuple(penalties),
    )


def build_index(lists: list[RestrictedList], *, candidates: int = 48) -> NameIndex:
    """An index over the given lists."""
    index = NameIndex(candidates=candidates)
    for lst in lists:
        index.add(lst)
    return index.build()
