"""Candidate retrieval and scoring: an inverted index of tokens and character trigrams.

Never a full scan: a query looks up its rarest grams (whole tokens, then trigrams of the
order-independent key), counts shared grams per indexed name, and scores only the best
`candidates` names with rapidfuzz. Chinese names also match exactly on their Han key.

Score parts (each 0..1): `sort` token_sort_ratio of the core tokens (word order ignored),
`compact` ratio of the names without spaces (AeroVironment = Aero Vironment), `subset`
token_set_ratio discounted by how much of the longer name is unexplained (one name's tokens
contained in the other's), `phonetic` ratio of sorted phonetic skeletons, discounted
(transliteration variants: Tsai = Cai, Kh = H), `han_exact` equal Chinese-character names. The score is the
best part, times penalties for an entity-type mismatch (person vs organisation, vessel) and
for conflicting legal forms.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from lanthanide_screening.matching.model import ListEntry, ListName, RestrictedList
from lanthanide_screening.matching.normalise import (
    NORMALISATION_VERSION,
    NormalisedName,
    normalise_name,
    normalise_name_uncached,
    skeleton,
)

ALGORITHM_VERSION = f"ngram-rapidfuzz-2/{NORMALISATION_VERSION}"

# A name contained in another is a possible match, never a certain one: the discount grows with
# the share of the longer name left unexplained (2 of 3 words alert, 2 of 4 do not), and a
# one-word name contained in a longer one never alerts on containment alone.
SUBSET_BASE = 0.78
SUBSET_COVERAGE_WEIGHT = 0.15
SUBSET_MAX = 0.9
SUBSET_SINGLE_TOKEN = 0.8
PHONETIC_DISCOUNT = 0.95  # sounding alike is weaker evidence than spelling alike
# Words frequent in the index ("international", "trading", "group") say little about identity; when
# the distinctive words of two names differ, the score is scaled by their similarity.
GENERIC_MIN_DF = 50
GENERIC_DF_SHARE = 0.002
DISTINCTIVE_FLOOR = 0.85
PART_NAMES = ("han_exact", "sort", "compact", "subset", "phonetic")
TYPE_MISMATCH_PENALTY = 0.85  # person vs organisation
VEHICLE_PENALTY = 0.75  # vessel / aircraft vs a party that is neither
LEGAL_FORM_PENALTY = 0.97  # both names carry legal forms and they differ
#: Searches remembered per index (least recently used dropped first): real traffic screens the
#: same exporters, consignees and end users again and again. An index never changes once built
#: (a list or reference update builds a new one), so a remembered result is the result.
SEARCH_CACHE_SIZE = 20_000


def _trigrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _skeletons(words: str) -> str:
    return " ".join(sorted(skeleton(w) for w in words.split()))


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
    """An inverted index over the names of one or more lists.

    Per indexed name it keeps only what scoring needs (order-independent key, compact form,
    legal forms, Han key, token count) in flat lists, so a million names fit in well under 2 GiB.
    """

    candidates: int = 48
    max_postings: int = 60_000
    lists: list[RestrictedList] = field(default_factory=list)
    _refs: list[tuple[int, int, int]] = field(default_factory=list)  # name -> list, entry, name
    _keys: list[str] = field(default_factory=list)  # core tokens in original order
    _sorted: list[str] = field(default_factory=list)  # core tokens sorted
    _compact: list[str] = field(default_factory=list)
    _phonetic: list[str] = field(default_factory=list)
    _forms: list[frozenset[str]] = field(default_factory=list)
    _han: dict[int, str] = field(default_factory=dict)
    _ntokens: array[int] = field(default_factory=lambda: array("b"))
    _form_sets: dict[frozenset[str], frozenset[str]] = field(default_factory=dict)
    _distinctive_cache: dict[int, tuple[str, str]] = field(default_factory=dict)
    _gram_ids: dict[str, int] = field(default_factory=dict)
    _pairs_gram: array[int] = field(default_factory=lambda: array("i"))
    _pairs_name: array[int] = field(default_factory=lambda: array("i"))
    _offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    _postings: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _searches: OrderedDict[tuple[str, str | None, float, int], tuple[Match, ...]] = field(default_factory=OrderedDict)
    search_cache_size: int = SEARCH_CACHE_SIZE

    def add(self, lst: RestrictedList) -> None:
        """Index every name of every entry of a list (call `build` once after the last add)."""
        self._searches.clear()
        li = len(self.lists)
        self.lists.append(lst)
        for ei, entry in enumerate(lst.entries):
            for ni, name in enumerate(entry.names):
                # Uncached: list names would only push the screened names out of the memo.
                norm = normalise_name_uncached(name.name)
                if not norm.tokens and not norm.han:
                    continue
                nid = len(self._keys)
                self._refs.append((li, ei, ni))
                self._keys.append(norm.key)
                self._sorted.append(norm.sorted_key)
                self._compact.append(norm.compact)
                self._phonetic.append(norm.phonetic_key)
                # Few distinct legal-form sets exist: share one object per set.
                self._forms.append(self._form_sets.setdefault(norm.legal_forms, norm.legal_forms))
                self._ntokens.append(min(len(norm.tokens), 127))
                if norm.han:
                    self._han[nid] = norm.han
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
        self._searches.clear()
        return self

    def __len__(self) -> int:
        return len(self._keys)

    def _postings_of(self, gram: str) -> np.ndarray | None:
        gid = self._gram_ids.get(gram)
        if gid is None:
            return None
        return self._postings[self._offsets[gid] : self._offsets[gid + 1]]

    def _candidate_ids(self, query: NormalisedName) -> np.ndarray:
        found = [p for p in (self._postings_of(g) for g in _grams(query)) if p is not None and len(p)]
        if not found:
            return np.zeros(0, dtype=np.int32)
        # Rarest grams first, up to a budget: frequent trigrams add cost but little evidence.
        found.sort(key=len)
        budget, chosen = 0, list[np.ndarray]()
        for postings in found:
            if chosen and budget + len(postings) > self.max_postings:
                break
            chosen.append(postings)
            budget += len(postings)
        ids, counts = np.unique(np.concatenate(chosen), return_counts=True)
        if len(ids) > self.candidates:
            ids = ids[np.argpartition(-counts, self.candidates)[: self.candidates]]
        return ids

    def search(self, name: str, *, entity_type: str | None = None, threshold: float = 0.0, top: int = 5) -> list[Match]:
        """The best matches of a name, one per entry, best first, with score >= threshold."""
        key = (name, entity_type, threshold, top)
        cache = self._searches
        found = cache.get(key)
        if found is None:
            found = tuple(self._search(name, entity_type, threshold, top))
            cache[key] = found
            if len(cache) > self.search_cache_size:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return list(found)

    def _search(self, name: str, entity_type: str | None, threshold: float, top: int) -> list[Match]:
        query = normalise_name(name)
        if not query.tokens and not query.han:
            return []
        ids = self._candidate_ids(query)
        if not len(ids):
            return []
        parts = self._parts(query, ids)
        best = parts.max(axis=0)
        scored: dict[tuple[int, int], tuple[float, int, int, tuple[str, ...]]] = {}
        words = self._distinctive(query.tokens)
        mine = (words, _skeletons(words))
        floor = 0.0  # the top-th best penalised score so far
        # Penalties only lower a score: visit candidates best-first and stop once the next raw
        # score cannot beat the current top-k.
        for col in np.argsort(-best, kind="stable"):
            raw = float(best[col])
            if raw < threshold or raw < floor:
                break
            nid = int(ids[col])
            li, ei, _ = self._refs[nid]
            score, penalties = self._penalised(raw, nid, query, mine, entity_type)
            key = (li, ei)
            if score >= threshold and (key not in scored or score > scored[key][0]):
                scored[key] = (score, nid, int(col), penalties)
                if len(scored) >= top:
                    floor = sorted(v[0] for v in scored.values())[-top]
        ranked = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
        return [self._match(query, nid, score, parts[:, col], penalties) for _, (score, nid, col, penalties) in ranked]

    def _parts(self, q: NormalisedName, ids: np.ndarray) -> np.ndarray:
        """Score parts (rows: PART_NAMES) for every candidate (columns)."""
        sorted_keys = [self._sorted[i] for i in ids]
        out = np.zeros((len(PART_NAMES), len(ids)), dtype=np.float64)
        if q.han:
            out[0] = [1.0 if self._han.get(int(i)) == q.han else 0.0 for i in ids]
        if q.tokens:
            out[1] = cdist([q.sorted_key], sorted_keys, scorer=fuzz.ratio, processor=None)[0] / 100
            out[2] = cdist([q.compact], [self._compact[i] for i in ids], scorer=fuzz.ratio, processor=None)[0] / 100
            subset = cdist([q.key], [self._keys[i] for i in ids], scorer=fuzz.token_set_ratio, processor=None)[0] / 100
            theirs = np.frombuffer(self._ntokens, dtype=np.int8)[ids].astype(np.float64)
            shorter = np.minimum(theirs, len(q.tokens))
            longer = np.maximum(theirs, len(q.tokens))
            discount = np.minimum(SUBSET_MAX, SUBSET_BASE + SUBSET_COVERAGE_WEIGHT * shorter / longer)
            out[3] = subset * np.where(shorter > 1, discount, np.minimum(discount, SUBSET_SINGLE_TOKEN))
            phonetic = [self._phonetic[i] for i in ids]
            out[4] = cdist([q.phonetic_key], phonetic, scorer=fuzz.ratio, processor=None)[0] / 100 * PHONETIC_DISCOUNT
            # Names without core tokens (Han only) have empty keys: no Latin evidence either way.
            empty = np.array([not k for k in sorted_keys])
            out[1:, empty] = 0.0
        return out

    def _generic_df(self) -> int:
        return max(GENERIC_MIN_DF, int(GENERIC_DF_SHARE * len(self._keys)))

    def _distinctive(self, tokens: list[str] | tuple[str, ...]) -> str:
        limit = self._generic_df()
        rare = []
        for t in tokens:
            gid = self._gram_ids.get("w:" + t)
            df = 0 if gid is None else int(self._offsets[gid + 1] - self._offsets[gid])
            if df <= limit:
                rare.append(t)
        return " ".join(sorted(rare))

    def _penalised(
        self, score: float, nid: int, q: NormalisedName, mine: tuple[str, str], entity_type: str | None
    ) -> tuple[float, tuple[str, ...]]:
        """The score after entity-type, legal-form and distinctive-word penalties, and why."""
        li, ei, _ = self._refs[nid]
        listed_type = self.lists[li].entries[ei].entity_type
        penalties: list[str] = []
        if entity_type and listed_type != entity_type:
            if listed_type in ("vessel", "aircraft"):
                score *= VEHICLE_PENALTY
                penalties.append(f"entry is a {listed_type}")
            elif {entity_type, listed_type} == {"person", "organization"}:
                score *= TYPE_MISMATCH_PENALTY
                penalties.append(f"{entity_type} vs listed {listed_type}")
        forms = self._forms[nid]
        if q.legal_forms and forms and not (q.legal_forms & forms):
            score *= LEGAL_FORM_PENALTY
            penalties.append("different legal forms")
        if score < 1.0:
            theirs = self._distinctive_cache.get(nid)
            if theirs is None:
                words = self._distinctive(self._keys[nid].split())
                theirs = self._distinctive_cache[nid] = (words, _skeletons(words))
            if mine[0] and theirs[0] and mine[0] != theirs[0]:
                similarity = max(fuzz.ratio(mine[0], theirs[0]), fuzz.ratio(mine[1], theirs[1])) / 100
                score *= DISTINCTIVE_FLOOR + (1 - DISTINCTIVE_FLOOR) * similarity
                penalties.append(f"distinctive words differ ({similarity:.2f})")
        return round(score, 4), tuple(penalties)

    def _match(self, q: NormalisedName, nid: int, score: float, parts: np.ndarray, penalties: tuple[str, ...]) -> Match:
        li, ei, ni = self._refs[nid]
        lst = self.lists[li]
        entry = lst.entries[ei]
        return Match(
            list_id=lst.list_id,
            list_kind=lst.kind,
            list_version=lst.version,
            entry=entry,
            matched=entry.names[ni],
            score=score,
            parts={n: round(float(v), 4) for n, v in zip(PART_NAMES, parts, strict=True) if n != "han_exact" or v},
            shared_tokens=tuple(sorted(set(q.tokens) & set(self._keys[nid].split()))),
            penalties=penalties,
        )


def build_index(lists: list[RestrictedList], *, candidates: int = 48) -> NameIndex:
    """An index over the given lists."""
    index = NameIndex(candidates=candidates)
    for lst in lists:
        index.add(lst)
    return index.build()
