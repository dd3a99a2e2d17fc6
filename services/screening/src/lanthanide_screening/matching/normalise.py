"""Name normalisation for screening: one canonical form for names in any script, order or legal form.

Steps: Unicode NFKC; Chinese characters to pinyin syllables (pypinyin), every other script
transliterated to ASCII (anyascii, ISC licence: Cyrillic, Greek, Arabic, accents); casefold; punctuation to
spaces ("&" reads "and", apostrophes vanish so O'Rourke = ORourke); legal forms canonicalised
and set aside (Co., Ltd. = Company Limited = ltd; OOO, JSC, GmbH, LLC, ...); stopwords dropped.
What is left are the core tokens that identify the party.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii

#: Bump when normalisation changes: it is part of the algorithm version in every hit.
#: norm-3: transliteration by anyascii (ISC) instead of unidecode (GPL); Latin, Cyrillic and
#: Greek names fold as before (the table below), other scripts (Arabic, Hebrew) may differ.
NORMALISATION_VERSION = "norm-3"

#: The romanisation of Russian and Greek letters the lists' Latin spellings follow (Yuriy /
#: Iurii come out alike after fuzzy matching, but Athena must stay Athena, not Athina), where
#: anyascii's phonetic choice differs. Applied before anyascii.
_ROMANISATION = str.maketrans({
    "й": "i", "Й": "I", "ю": "iu", "Ю": "Iu", "я": "ia", "Я": "Ia", "ё": "io", "Ё": "Io",
    "ѐ": "ie", "Ѐ": "Ie", "ї": "yi", "Ї": "Yi",
    "β": "b", "Β": "B", "η": "e", "Η": "E", "ή": "e", "Ή": "E", "υ": "u", "Υ": "U", "ύ": "u",
    "Ύ": "U", "ϋ": "u", "Ϋ": "U", "ΰ": "u", "φ": "ph", "Φ": "Ph", "χ": "kh", "Χ": "Kh",
    "ξ": "ks", "Ξ": "Ks",
})

# Multi-word legal forms first (longest match wins); each maps to one canonical token.
_LEGAL_FORM_PHRASES: dict[tuple[str, ...], str] = {
    ("company", "limited"): "ltd",
    ("co", "limited"): "ltd",
    ("co", "ltd"): "ltd",
    ("company", "ltd"): "ltd",
    ("limited", "liability", "company"): "llc",
    ("l", "l", "c"): "llc",
    ("public", "limited", "company"): "plc",
    ("joint", "stock", "company"): "jsc",
    ("open", "joint", "stock", "company"): "jsc",
    ("closed", "joint", "stock", "company"): "jsc",
    ("kabushiki", "kaisha"): "kk",
    ("sdn", "bhd"): "bhd",
    ("s", "a"): "sa",
    ("n", "v"): "nv",
    ("b", "v"): "bv",
    ("s", "r", "l"): "srl",
    ("s", "p", "a"): "spa",
    ("pty", "ltd"): "ltd",
    ("pte", "ltd"): "ltd",
    ("private", "limited"): "ltd",
}
_LEGAL_FORM_WORDS: dict[str, str] = {
    "ltd": "ltd",
    "limited": "ltd",
    "inc": "inc",
    "incorporated": "inc",
    "corp": "corp",
    "corporation": "corp",
    "co": "co",
    "company": "co",
    "llc": "llc",
    "plc": "plc",
    "gmbh": "gmbh",
    "ag": "ag",
    "kg": "kg",
    "sa": "sa",
    "sas": "sa",
    "srl": "srl",
    "spa": "spa",
    "nv": "nv",
    "bv": "bv",
    "ab": "ab",
    "oy": "oy",
    "kk": "kk",
    "pte": "ltd",
    "pty": "ltd",
    "bhd": "bhd",
    "lp": "lp",
    "llp": "llp",
    "ooo": "ooo",
    "oao": "jsc",
    "zao": "jsc",
    "pao": "jsc",
    "ao": "jsc",
    "jsc": "jsc",
    "ojsc": "jsc",
    "cjsc": "jsc",
    "pjsc": "jsc",
    "tov": "ooo",
    # Legal forms as they come back from Cyrillic (transliteration of the Russian spelling).
    "kompani": "co",
    "kompaniia": "co",
    "kompaniya": "co",
    "korporeishn": "corp",
    "korporatsiia": "corp",
    "korporatsiya": "corp",
    "inkorporeited": "inc",
    "limitid": "ltd",
    "gmbkh": "gmbh",
    "llk": "llc",
    "ink": "inc",
    "korp": "corp",
    "sarl": "srl",
    "gk": "kk",
}
_MAX_PHRASE = max(len(p) for p in _LEGAL_FORM_PHRASES)
_STOPWORDS = frozenset({"the", "of", "and", "for", "a", "an"})
# Chinese legal-form suffixes, longest first; stripped from the Han key of a name.
_HAN_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "株式会社", "集团公司", "公司")
_NON_WORD = re.compile(r"[^0-9a-z]+")
# A crude phonetic skeleton: spellings that transliteration systems disagree on collapse to one
# letter (ts/tz/c/k/q, kh/h, sh/sch/s, dzh/zh/j/y/i, ph/f, w/v), then doubled letters collapse.
_SKELETON_DIGRAPHS = (
    ("tsch", "c"),
    ("shch", "s"),
    ("sch", "s"),
    ("tch", "c"),
    ("dzh", "j"),
    ("zh", "j"),
    ("dj", "j"),
    ("kh", "h"),
    ("gh", "g"),
    ("sh", "s"),
    ("ch", "c"),
    ("ts", "c"),
    ("tz", "c"),
    ("ph", "f"),
    ("ck", "k"),
    ("th", "t"),
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
)
_SKELETON_LETTERS = str.maketrans({"c": "k", "q": "k", "j": "i", "y": "i", "w": "v", "z": "s", "x": "ks"})
_DOUBLE = re.compile(r"(.)\1+")


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


@lru_cache(maxsize=65_536)
def _han_to_pinyin(run: str) -> str:
    from pypinyin import lazy_pinyin  # imported lazily: its dictionaries take a while to load

    return " ".join(lazy_pinyin(run))


def fold(text: str) -> str:
    """Any script to lower-case ASCII words separated by single spaces."""
    text = unicodedata.normalize("NFKC", text)
    parts: list[str] = []
    run: list[str] = []
    for ch in text:
        if _is_han(ch):
            run.append(ch)
            continue
        if run:
            parts.append(" " + _han_to_pinyin("".join(run)) + " ")
            run = []
        parts.append(ch)
    if run:
        parts.append(" " + _han_to_pinyin("".join(run)) + " ")
    ascii_text = anyascii("".join(parts).translate(_ROMANISATION)).casefold()
    ascii_text = ascii_text.replace("&", " and ").replace("'", "").replace("`", "")
    return " ".join(_NON_WORD.sub(" ", ascii_text).split())


def han_key(text: str) -> str | None:
    """The Chinese characters of a name without legal-form suffix, or None if it has none."""
    han = "".join(ch for ch in unicodedata.normalize("NFKC", text) if _is_han(ch))
    if not han:
        return None
    for suffix in _HAN_LEGAL_SUFFIXES:
        if han.endswith(suffix) and len(han) > len(suffix):
            return han[: -len(suffix)]
    return han


def _split_legal_forms(tokens: list[str]) -> tuple[list[str], list[str]]:
    core: list[str] = []
    forms: list[str] = []
    i = 0
    while i < len(tokens):
        for size in range(min(_MAX_PHRASE, len(tokens) - i), 1, -1):
            canonical = _LEGAL_FORM_PHRASES.get(tuple(tokens[i : i + size]))
            if canonical is not None:
                forms.append(canonical)
                i += size
                break
        else:
            token = tokens[i]
            # A legal-form word counts as one anywhere ("AO Kaspersky", "Romashka OOO"), but a
            # one-word name that IS a legal-form word ("AB") keeps it.
            if token in _LEGAL_FORM_WORDS and len(tokens) > 1:
                forms.append(_LEGAL_FORM_WORDS[token])
            elif token not in _STOPWORDS or len(tokens) == 1:
                core.append(token)
            i += 1
    if not core and forms:
        # A name made only of legal-form words is still a name: keep its words as core.
        core = [t for t in tokens if t not in _STOPWORDS] or tokens
    return core, forms


@lru_cache(maxsize=262_144)
def skeleton(token: str) -> str:
    """The phonetic skeleton of a folded token (see _SKELETON_DIGRAPHS)."""
    for digraph, letter in _SKELETON_DIGRAPHS:
        token = token.replace(digraph, letter)
    return _DOUBLE.sub(r"\1", token.translate(_SKELETON_LETTERS))


@dataclass(frozen=True, slots=True)
class NormalisedName:
    """A name in canonical form.

    `tokens` are the core tokens in original order; `key` joins them; `sorted_key` sorts them
    (person names in any order compare equal); `compact` drops the spaces (AeroVironment =
    Aero Vironment); `legal_forms` are the canonical legal-form tokens set aside; `han` is the
    Chinese-character key when the name has one.
    """

    original: str
    tokens: tuple[str, ...]
    legal_forms: frozenset[str]
    han: str | None

    @property
    def key(self) -> str:
        return " ".join(self.tokens)

    @property
    def sorted_key(self) -> str:
        return " ".join(sorted(self.tokens))

    @property
    def compact(self) -> str:
        return "".join(self.tokens)

    @property
    def phonetic_key(self) -> str:
        """Sorted phonetic skeletons of the tokens (transliteration-tolerant, order-independent)."""
        return " ".join(sorted(skeleton(t) for t in self.tokens))


def normalise_name_uncached(name: str) -> NormalisedName:
    """Normalise one name (see the module docstring for the steps)."""
    tokens = fold(name).split()
    core, forms = _split_legal_forms(tokens)
    return NormalisedName(original=name, tokens=tuple(core), legal_forms=frozenset(forms), han=han_key(name))


@lru_cache(maxsize=65_536)
def normalise_name(name: str) -> NormalisedName:
    """Normalise one name, remembered (the result is immutable; screened names recur a lot)."""
    return normalise_name_uncached(name)
