"""The screening engine: classification, party screening, end use, red flags, and the route.

Route precedence (first that applies wins):
  DENY           declared facts only: SCR-ENDUSE-MILITARY / -WMD / -TERRORISM, SCR-ENDUSER-MILITARY,
                 a certain match on a deny list (SCR-PARTY-CONTROL-LIST, ...), SCR-PARTY-OWNED-BY-LISTED
  INCOMPLETE     SCR-ROUTE-INCOMPLETE: intake found documents missing or expired
  ENHANCED       SCR-ENDUSE-NUCLEAR, SCR-ENDUSE-ADV-SEMI, SCR-ENDUSE-AI-MILITARY, watch/other list
                 matches, red flags of severity "enhanced" (policy.yaml: words in free text),
                 SCR-CLASS-CATCH-ALL (an unlisted item with a military, WMD or terrorism risk)
  GREEN_CHANNEL  SCR-ROUTE-GREEN-CHANNEL: a valid general licence covers holder, items, quantities
                 and end users, and nothing else was raised
  STANDARD       SCR-ROUTE-STANDARD: a licence is required, or a red flag of severity "standard"
  NO_LICENCE_REQUIRED  SCR-ROUTE-NLR; SCR-EXEMPT-HUMANITARIAN (with the reporting condition)
Every reason is a structured Reason (rule id, action, text, evidence, measure or list entry and
version); `route_reasons` is the same list rendered "RULE-ID: text" for older subscribers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from lanthanide.contracts import (
    ApplicationAccepted,
    ClassificationResult,
    EndUseCategory,
    Licence,
    LicenceType,
    PartyRole,
    Reason,
    RedFlag,
    Route,
    ScreeningCompleted,
)

from lanthanide_screening.domain.classify import classify
from lanthanide_screening.domain.enduse import assess
from lanthanide_screening.domain.parties import IsFalsePositive, screen_parties
from lanthanide_screening.domain.redflags import raise_red_flags
from lanthanide_screening.domain.reference import MeasureSet, Policy
from lanthanide_screening.matching.index import ALGORITHM_VERSION, NameIndex
from lanthanide_screening.matching.normalise import normalise_name

ENGINE_VERSION = f"screening-engine-1/{ALGORITHM_VERSION}"
#: The catch-all (Export Control Law Art. 12, Regulations Art. 14): see docs/rules.md.
CATCH_ALL_SOURCE = "Export Control Law Art. 12; Regulations on Export Control of Dual-use Items Art. 14"


def _same(a: str, b: str) -> bool:
    return normalise_name(a).sorted_key == normalise_name(b).sorted_key


@dataclass(slots=True)
class ScreeningEngine:
    """Everything screening needs, loaded once: measures, policy and the list index."""

    measures: MeasureSet
    policy: Policy
    index: NameIndex

    @property
    def reference_data_version(self) -> str:
        return f"measures:{self.measures.version};policy:{self.policy.version}"

    def screen(
        self,
        accepted: ApplicationAccepted,
        on: date,
        *,
        is_rescreen: bool = False,
        is_false_positive: IsFalsePositive = lambda _k, _l, _e: False,
        general_licences: Mapping[str, Licence] | None = None,
    ) -> ScreeningCompleted:
        """Screen one accepted application on a date and recommend a route."""
        app = accepted.application
        assessed = assess(app, self.policy.end_use)
        end_use = assessed.assessment
        catch_all = assessed.catch_all_risk
        destination = app.route.final_destination_country
        classifications = [
            classify(item, on, self.measures, item_index=i, destination=destination, catch_all_reason=catch_all)
            for i, item in enumerate(app.items)
        ]
        parties = screen_parties(app, self.index, self.policy, on, is_false_positive)
        flags = [*parties.flags, *raise_red_flags(app, self.policy, on, assessed)]
        licence_required = any(c.licence_required for c in classifications)

        reasons: dict[str, list[Reason]] = {"deny": [], "enhanced": [], "standard": []}
        rule_ids: list[str] = []

        def fire(reason: Reason) -> None:
            if reason.code not in rule_ids:
                rule_ids.append(reason.code)
            reasons[reason.action].append(reason)

        for c in classifications:
            for r in c.rule_ids:
                if r not in rule_ids:
                    rule_ids.append(r)
        for finding in assessed.findings:
            fire(
                Reason(code=finding.rule_id, action=finding.action, text=finding.text, evidence=list(finding.evidence))
            )
        catch_all_items = [c.item_index for c in classifications if "SCR-CLASS-CATCH-ALL" in c.rule_ids]
        if catch_all_items and catch_all:
            # Never no-licence-required; a reviewer weighs the risk (a denial needs a declared fact).
            fire(
                Reason(
                    code="SCR-CLASS-CATCH-ALL",
                    action="enhanced",
                    text=f"unlisted item(s) {catch_all_items} need a licence under the catch-all",
                    evidence=[catch_all],
                    source=CATCH_ALL_SOURCE,
                )
            )
        for rule, action, text in parties.findings:
            fire(Reason(code=rule, action=action, text=text))
        for f in flags:
            severity = self.policy.red_flags[f.code].severity if f.code in self.policy.red_flags else "standard"
            fire(Reason(code=f.code, action=severity, text=f"{f.description}: {f.evidence}", evidence=[f.evidence]))

        green, green_flag = self._green_channel(accepted, classifications, on, general_licences or {})
        if green_flag is not None:
            flags.append(green_flag)
            fire(
                Reason(
                    code=green_flag.code,
                    action="standard",
                    text=f"{green_flag.description}: {green_flag.evidence}",
                    evidence=[green_flag.evidence],
                )
            )

        humanitarian = self._humanitarian(accepted, on)
        route, structured = self._route(accepted, reasons, classifications, licence_required, green, humanitarian)
        route_rule = structured[0].code
        if route_rule not in rule_ids:
            rule_ids.append(route_rule)
        route_reasons = [f"{r.code}: {r.text}" for r in structured]
        if humanitarian and route is Route.NO_LICENCE_REQUIRED:
            licence_required = False
        return ScreeningCompleted(
            external_reference=accepted.external_reference,
            application=app,
            complete=accepted.complete,
            missing_documents=accepted.missing_documents,
            classifications=classifications,
            licence_required=licence_required,
            hits=parties.hits,
            end_use=end_use,
            red_flags=flags,
            route=route,
            route_reasons=route_reasons,
            reasons=structured,
            rule_ids=rule_ids,
            list_versions=parties.list_versions,
            reference_data_version=self.reference_data_version,
            algorithm_version=ENGINE_VERSION,
            screened_on=on,
            is_rescreen=is_rescreen,
        )

    def _humanitarian(self, accepted: ApplicationAccepted, on: date) -> str | None:
        app = accepted.application
        if not (app.humanitarian or app.end_use.category is EndUseCategory.HUMANITARIAN):
            return None
        for m in self.measures.by_kind("humanitarian_exemption"):
            if m.in_force(on, app.route.final_destination_country):
                days = m.report_within_working_days
                return (
                    f"humanitarian exemption under {m.id}: no licence needed; condition: report "
                    f"the export within {days} working days after it is made"
                )
        return None

    def _route(
        self,
        accepted: ApplicationAccepted,
        reasons: dict[str, list[Reason]],
        classifications: list[ClassificationResult],
        licence_required: bool,
        green: str | None,
        humanitarian: str | None,
    ) -> tuple[Route, list[Reason]]:
        """The route and its reasons (the first is the rule that decided it)."""
        deny, enhanced, standard = reasons["deny"], reasons["enhanced"], reasons["standard"]
        version = self.measures.version
        controlled = [
            Reason(
                code=rule,
                action="standard",
                text=f"item {c.item_index}: {c.explanation}",
                evidence=list(c.control_codes),
                measure_id=measure,
                version=version,
            )
            for c in classifications
            if c.licence_required
            for measure in c.measure_ids[:1]
            for rule in [next((r for r in c.rule_ids if r != "SCR-CLASS-NOT-CONTROLLED"), "SCR-CLASS-ELEMENT")]
        ]
        if deny:
            return Route.DENY, deny + enhanced + standard
        if not accepted.complete:
            missing = ", ".join(accepted.missing_documents) or "documents"
            head = Reason(
                code="SCR-ROUTE-INCOMPLETE",
                action="incomplete",
                text=f"application incomplete: missing or expired {missing}",
                evidence=list(accepted.missing_documents),
            )
            return Route.INCOMPLETE, [head, *enhanced, *standard]
        if enhanced:
            return Route.ENHANCED, enhanced + standard + controlled
        if humanitarian and not standard:
            return Route.NO_LICENCE_REQUIRED, [
                Reason(code="SCR-EXEMPT-HUMANITARIAN", action="no_licence_required", text=humanitarian)
            ]
        if green and licence_required and not standard:
            return Route.GREEN_CHANNEL, [
                Reason(code="SCR-ROUTE-GREEN-CHANNEL", action="approve", text=green),
                *controlled,
            ]
        if licence_required:
            head = Reason(
                code="SCR-ROUTE-STANDARD", action="standard", text="a licence is required for controlled items"
            )
            return Route.STANDARD, [head, *standard, *controlled]
        if standard:
            head = Reason(
                code="SCR-ROUTE-STANDARD",
                action="standard",
                text="no item needs a licence, but red flags need inquiry",
            )
            return Route.STANDARD, [head, *standard]
        return Route.NO_LICENCE_REQUIRED, [
            Reason(
                code="SCR-ROUTE-NLR",
                action="no_licence_required",
                text="no item needs a licence; no list hits; no red flags",
                version=version,
            )
        ]

    def _green_channel(
        self,
        accepted: ApplicationAccepted,
        classifications: list[ClassificationResult],
        on: date,
        licences: Mapping[str, Licence],
    ) -> tuple[str | None, RedFlag | None]:
        """(reason if a general licence covers this export, flag if one is named but does not)."""
        app = accepted.application
        number = app.general_licence_number
        if not number:
            return None, None
        licence = licences.get(number)
        problem = _general_licence_problem(licence, accepted, classifications, on)
        if problem is None and licence is not None:
            return (
                f"general licence {number} valid {licence.valid_from}..{licence.valid_until} "
                "covers the items, quantities and end users"
            ), None
        code = "SCR-FLAG-GENERAL-LICENCE-INVALID"
        return None, RedFlag(
            code=code, description=self.policy.red_flags[code].text, evidence=f"general licence {number}: {problem}"
        )


def _general_licence_problem(
    licence: Licence | None,
    accepted: ApplicationAccepted,
    classifications: list[ClassificationResult],
    on: date,
) -> str | None:
    app = accepted.application
    if licence is None:
        return "not known as an issued general licence"
    if licence.type is not LicenceType.GENERAL:
        return f"is a {licence.type.value} licence"
    if not licence.valid_from <= on <= licence.valid_until:
        return f"not valid on {on} (valid {licence.valid_from}..{licence.valid_until})"
    if not _same(licence.holder, app.exporter.name):
        return "held by another exporter"
    for eu in app.parties_in_role(PartyRole.END_USER):
        if not any(_same(eu.name, n) for n in licence.end_users):
            return "an end user is not named on the licence"
        if licence.end_user_countries and eu.country not in licence.end_user_countries:
            return f"end-user country {eu.country} not covered"
    for item, cls in zip(app.items, classifications, strict=True):
        codes = {c.split(".")[0] for c in cls.control_codes}
        covering = [
            li for li in licence.items if codes & {c.split(".")[0] for c in li.control_codes} and li.unit == item.unit
        ]
        if cls.licence_required and not covering:
            return f"item {cls.item_index} ({sorted(codes) or 'unclassified'}) is not covered"
        if covering and all(item.quantity > li.quantity_cap for li in covering):
            return f"item {cls.item_index} quantity {item.quantity} {item.unit} exceeds the cap"
    return None
