"""End-use assessment: military, WMD, terrorism, military end user, advanced semiconductor, AI.

Rule ids:
  SCR-ENDUSE-MILITARY        declared category military, or the description is clearly military
  SCR-ENDUSE-NUCLEAR         declared category nuclear (policy: deny, see policy.yaml)
  SCR-ENDUSE-WMD             WMD or delivery-system indicators in the description
  SCR-ENDUSE-TERRORISM       terrorism indicators in the description
  SCR-ENDUSER-MILITARY       the end user is a military user (name or business description)
  SCR-ENDUSE-ADV-SEMI        semiconductor at <= 14 nm logic or >= 256 memory layers
  SCR-ENDUSE-AI-MILITARY     AI end use with potential military use
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lanthanide.contracts import Application, EndUseAssessment, EndUseCategory, PartyRole

from lanthanide_screening.domain.reference import EndUsePolicy


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TextFinder:
    """Finds policy patterns in free text, ignoring negated mentions ("not for military use")."""

    negations: frozenset[str]
    window: int

    def find(self, text: str, patterns: list[str]) -> list[str]:
        """The non-negated matches of any pattern, in order of appearance."""
        if not text or not patterns:
            return []
        found = []
        for m in _compile(tuple(patterns)).finditer(text):
            before = re.findall(r"[\w-]+", text[: m.start()].casefold())[-self.window :]
            words = {w for b in before for w in b.split("-")}
            if words & self.negations:
                continue
            found.append(m.group(0))
        return found


def finder_for(policy: EndUsePolicy) -> TextFinder:
    """A TextFinder with the policy's negations."""
    return TextFinder(frozenset(policy.negations), policy.negation_window_words)


def assess_end_use(app: Application, policy: EndUsePolicy) -> EndUseAssessment:
    """Assess the declared end use and the end users against the policy."""
    end_use = app.end_use
    text = end_use.description
    finder = finder_for(policy)
    rules: list[str] = []
    why: list[str] = []
    military = wmd = terrorism = advanced = ai_military = False

    deny_rule = policy.deny_categories.get(end_use.category.value)
    if deny_rule:
        rules.append(deny_rule)
        why.append(f"{deny_rule}: declared end-use category {end_use.category.value!r}")
        military = end_use.category is EndUseCategory.MILITARY
        wmd = end_use.category is EndUseCategory.NUCLEAR
    if hits := finder.find(text, policy.wmd_patterns):
        wmd = True
        rules.append("SCR-ENDUSE-WMD")
        why.append(f"SCR-ENDUSE-WMD: WMD indicators in the end-use description: {sorted(set(hits))}")
    if hits := finder.find(text, policy.terrorism_patterns):
        terrorism = True
        rules.append("SCR-ENDUSE-TERRORISM")
        why.append(f"SCR-ENDUSE-TERRORISM: terrorism indicators in the description: {sorted(set(hits))}")
    if (hits := finder.find(text, policy.military_patterns)) and "SCR-ENDUSE-MILITARY" not in rules:
        military = True
        rules.append("SCR-ENDUSE-MILITARY")
        why.append(f"SCR-ENDUSE-MILITARY: military indicators in the description: {sorted(set(hits))}")
    for party in app.parties_in_role(PartyRole.END_USER):
        about = f"{party.name} {party.business_description or ''}"
        if hits := finder.find(about, policy.military_user_patterns):
            military = True
            if "SCR-ENDUSER-MILITARY" not in rules:
                rules.append("SCR-ENDUSER-MILITARY")
            why.append(f"SCR-ENDUSER-MILITARY: end user is a military user: {sorted(set(hits))}")

    if end_use.category is EndUseCategory.SEMICONDUCTOR:
        node_max = policy.advanced_semiconductor["max_logic_node_nm"]
        layers_min = policy.advanced_semiconductor["min_memory_layers"]
        node, layers = end_use.semiconductor_node_nm, end_use.memory_layers
        if (node is not None and node <= node_max) or (layers is not None and layers >= layers_min):
            advanced = True
            rules.append("SCR-ENDUSE-ADV-SEMI")
            why.append(
                f"SCR-ENDUSE-ADV-SEMI: semiconductor node {node} nm / {layers} layers "
                f"(case-by-case at <= {node_max} nm or >= {layers_min} layers)"
            )
    if end_use.category is EndUseCategory.ARTIFICIAL_INTELLIGENCE and (
        hits := finder.find(text, policy.ai_military_patterns)
    ):
        ai_military = True
        rules.append("SCR-ENDUSE-AI-MILITARY")
        why.append(f"SCR-ENDUSE-AI-MILITARY: AI end use with potential military use: {sorted(set(hits))}")
    return EndUseAssessment(
        category=end_use.category.value,
        military=military,
        wmd=wmd,
        terrorism=terrorism,
        advanced_semiconductor=advanced,
        ai_military_potential=ai_military,
        rule_ids=rules,
        explanation="; ".join(why) or "civilian end use; no indicator found",
    )
