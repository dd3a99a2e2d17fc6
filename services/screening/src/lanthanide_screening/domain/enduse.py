"""End-use assessment: automatic denial only on declared facts; words in free text are evidence.

Declared facts (structured fields the applicant answers for) decide:
  SCR-ENDUSE-MILITARY        declared end-use category "military"                     deny
  SCR-ENDUSE-WMD             declared end-use category "wmd"                          deny
  SCR-ENDUSE-TERRORISM       declared end-use category "terrorism"                    deny
  SCR-ENDUSER-MILITARY       an end user declared a military user (military_end_user) deny
  SCR-ENDUSE-NUCLEAR         declared category "nuclear": civil nuclear, not WMD      enhanced
  SCR-ENDUSE-ADV-SEMI        semiconductor at <= 14 nm logic or >= 256 memory layers  enhanced
  SCR-ENDUSE-AI-MILITARY     AI end use with words suggesting military use            enhanced
Free text (end-use description, notes, item descriptions, the end user's name and business)
never denies and never clears: its words raise coded red flags with the words as evidence
(SCR-FLAG-TEXT-MILITARY, -WMD, -TERRORISM, SCR-FLAG-ENDUSER-MILITARY-TEXT), which route the
case to enhanced review. Sources and dates of each rule: docs/rules.md, "End use and red flags".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from lanthanide.contracts import Application, EndUseAssessment, EndUseCategory, PartyRole

from lanthanide_screening.domain.reference import EndUsePolicy

#: Tokens that end a negation's scope: a clause break or a coordination ("non-military and
#: military drones", "without delay, for missile guidance" affirm the use after the break).
_SCOPE_BREAKS = frozenset({",", ";", ":", ".", "!", "?", "(", ")", "and", "or", "but", "while", "whereas", "also"})
_TOKENS = re.compile(r"\w+|[^\w\s]")


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TextFinder:
    """Finds policy patterns in free text, ignoring mentions a negation scopes ("not for military use").

    A negation scopes a match when at most `window` words stand between them, with no clause break
    or coordination in between; "non-" as a prefix negates the word it is attached to."""

    negations: frozenset[str]
    window: int

    def negated(self, before: str) -> bool:
        """Whether the text just before a match negates it."""
        words = 0
        for token in reversed(_TOKENS.findall(before.casefold())):
            if token in _SCOPE_BREAKS:
                return False
            if token == "-":
                continue
            if token in self.negations:
                return True
            words += 1
            if words > self.window:
                return False
        return False

    def find(self, text: str, patterns: list[str]) -> list[str]:
        """The non-negated matches of any pattern, in order of appearance."""
        if not text or not patterns:
            return []
        return [m.group(0) for m in _compile(tuple(patterns)).finditer(text) if not self.negated(text[: m.start()])]


def finder_for(policy: EndUsePolicy) -> TextFinder:
    """A TextFinder with the policy's negations."""
    return TextFinder(frozenset(policy.negations), policy.negation_window_words)


@dataclass(frozen=True, slots=True)
class EndUseFinding:
    """One rule that fired: its id, its action (deny | enhanced) and the evidence."""

    rule_id: str
    action: str
    text: str
    evidence: tuple[str, ...] = ()


@dataclass(slots=True)
class EndUseResult:
    """The assessment as published, the rules that decide, and the flags free text raised."""

    assessment: EndUseAssessment
    findings: list[EndUseFinding] = field(default_factory=list)
    # (flag code, evidence) for SCR-FLAG-TEXT-* and SCR-FLAG-ENDUSER-MILITARY-TEXT
    text_flags: list[tuple[str, str]] = field(default_factory=list)

    @property
    def catch_all_risks(self) -> list[tuple[str, str]]:
        """(rule id, evidence) of each military, WMD or terrorism risk, declared or in the text:
        why the catch-all applies (empty when it does not)."""
        return [(f.rule_id, f.text) for f in self.findings if f.action == "deny"] + list(self.text_flags)

    @property
    def catch_all_risk(self) -> str | None:
        """The catch-all risks as one human sentence (each risk's text, its rule id in brackets), or None."""
        return "; ".join(f"{text} ({code})" for code, text in self.catch_all_risks) or None


def free_text_fields(app: Application) -> list[tuple[str, str]]:
    """(field path, text) of every free-text field that speaks about the end use."""
    fields = [("end_use.description", app.end_use.description)]
    if app.notes:
        fields.append(("notes", app.notes))
    fields += [(f"items.{i}.description", item.description) for i, item in enumerate(app.items)]
    for i, party in enumerate(app.parties):
        if party.business_description:
            fields.append((f"parties.{i}.business_description", party.business_description))
    return fields


def assess(app: Application, policy: EndUsePolicy) -> EndUseResult:
    """Assess the declared end use, the declared end users and the free text against the policy."""
    end_use = app.end_use
    finder = finder_for(policy)
    result = EndUseResult(EndUseAssessment(category=end_use.category.value))
    findings = result.findings
    category = end_use.category.value

    if rule := policy.deny_categories.get(category):
        findings.append(EndUseFinding(rule, "deny", f"declared end-use category {category!r}", (category,)))
    if rule := policy.enhanced_categories.get(category):
        findings.append(
            EndUseFinding(rule, "enhanced", f"declared end-use category {category!r}: case-by-case review", (category,))
        )
    for i, party in enumerate(app.parties):
        if party.role is PartyRole.END_USER and party.military_end_user:
            findings.append(
                EndUseFinding(
                    "SCR-ENDUSER-MILITARY",
                    "deny",
                    f"end user #{i + 1} is declared a military user",
                    (f"parties.{i}.military_end_user",),
                )
            )

    for path, text in free_text_fields(app):
        for code, patterns in (
            ("SCR-FLAG-TEXT-WMD", policy.wmd_patterns),
            ("SCR-FLAG-TEXT-TERRORISM", policy.terrorism_patterns),
            ("SCR-FLAG-TEXT-MILITARY", policy.military_patterns),
        ):
            if hits := finder.find(text, patterns):
                result.text_flags.append((code, f"{path}: {sorted(set(hits))}"))
    for i, party in enumerate(app.parties):
        if party.role is not PartyRole.END_USER:
            continue
        about = f"{party.name} {party.business_description or ''}"
        if hits := finder.find(about, policy.military_user_patterns):
            result.text_flags.append(
                ("SCR-FLAG-ENDUSER-MILITARY-TEXT", f"parties.{i} name or business: {sorted(set(hits))}")
            )

    if end_use.category is EndUseCategory.SEMICONDUCTOR:
        node_max = policy.advanced_semiconductor["max_logic_node_nm"]
        layers_min = policy.advanced_semiconductor["min_memory_layers"]
        node, layers = end_use.semiconductor_node_nm, end_use.memory_layers
        if (node is not None and node <= node_max) or (layers is not None and layers >= layers_min):
            findings.append(
                EndUseFinding(
                    "SCR-ENDUSE-ADV-SEMI",
                    "enhanced",
                    f"semiconductor node {node} nm / {layers} layers "
                    f"(case-by-case at <= {node_max} nm or >= {layers_min} layers)",
                    (f"node {node} nm", f"{layers} layers"),
                )
            )
    if end_use.category is EndUseCategory.ARTIFICIAL_INTELLIGENCE and (
        hits := finder.find(end_use.description, policy.ai_military_patterns)
    ):
        findings.append(
            EndUseFinding(
                "SCR-ENDUSE-AI-MILITARY",
                "enhanced",
                f"AI end use with potential military use: {sorted(set(hits))}",
                tuple(sorted(set(hits))),
            )
        )

    codes = {code for code, _ in result.text_flags}
    fired = {f.rule_id for f in findings}
    result.assessment = EndUseAssessment(
        category=category,
        military=bool({"SCR-ENDUSE-MILITARY", "SCR-ENDUSER-MILITARY"} & fired),
        wmd="SCR-ENDUSE-WMD" in fired,
        terrorism="SCR-ENDUSE-TERRORISM" in fired,
        advanced_semiconductor="SCR-ENDUSE-ADV-SEMI" in fired,
        ai_military_potential="SCR-ENDUSE-AI-MILITARY" in fired,
        rule_ids=list(dict.fromkeys([f.rule_id for f in findings] + sorted(codes))),
        # Human text only: the rule ids are `rule_ids`, and each finding is a structured Reason in
        # screening.completed's `reasons`.
        explanation="; ".join(
            [f"{f.text} ({f.rule_id})" for f in findings] + [f"{e} ({c})" for c, e in result.text_flags]
        )
        or "civilian end use; no indicator found",
    )
    return result


def assess_end_use(app: Application, policy: EndUsePolicy) -> EndUseAssessment:
    """The published end-use assessment (see `assess` for the findings behind it)."""
    return assess(app, policy).assessment
