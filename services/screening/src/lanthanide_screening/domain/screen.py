"""The screening engine: classification, party screening, end use, red flags, and the route.

Route precedence (first that applies wins):
  DENY           declared facts only: SCR-ENDUSE-MILITARY / -WMD / -TERRORISM, SCR-ENDUSER-MILITARY,
                 a certain match on a deny list (SCR-PARTY-CONTROL-LIST, ...), SCR-PARTY-OWNED-BY-LISTED
  INCOMPLETE     SCR-ROUTE-INCOMPLETE: intake found documents missing or expired, or an item lacks
                 the data to classify it (SCR-CLASS-COMPOSITION-MISSING: information requested)
  ENHANCED       SCR-ENDUSE-NUCLEAR, SCR-ENDUSE-ADV-SEMI, SCR-ENDUSE-AI-MILITARY, watch/other list
                 matches, red flags of severity "enhanced" (policy.yaml: words in free text),
                 SCR-CLASS-CATCH-ALL (an unlisted item with a military, WMD or terrorism risk)
  GREEN_CHANNEL  SCR-ROUTE-GREEN-CHANNEL: a valid general licence covers holder, items, quantities
                 and end users, and nothing else was raised
  STANDARD       SCR-ROUTE-STANDARD: a licence is required, or a red flag of severity "standard";
                 SCR-CLASS-TECH-REVIEW: a technology is never cleared automatically
  NO_LICENCE_REQUIRED  SCR-ROUTE-NLR (with valid_until); SCR-EXEMPT-HUMANITARIAN (No. 61 Art. 5, with
                 the reporting condition)

Every rule is evaluated on one date: the application's as-of date (its PRC receipt date,
`ApplicationAccepted.as_of_date`), the re-screen date when re-screening, or a what-if date;
`ScreeningCompleted.as_of_basis` says which.

Every reason is a structured Reason (rule id, action, text, evidence, measure or list entry and
version); `route_reasons` is the same list rendered "RULE-ID: text" for older subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from lanthanide.contracts import (
    ApplicationAccepted,
    ClassificationResult,
    EndUseCategory,
    ExemptionApplied,
    ItemForm,
    Licence,
    LicenceType,
    PartyRole,
    Reason,
    RedFlag,
    Route,
    ScreeningCompleted,
)

from lanthanide_screening.domain.classify import classify, no_licence_valid_until
from lanthanide_screening.domain.enduse import assess
from lanthanide_screening.domain.parties import FindDisposition, no_dispositions, screen_parties
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

    def ownership_in_force(self, on: date) -> bool:
        """Whether the 50 % rule is in force on a date: it is dated with the measure the policy names
        (MOFCOM 2025 No. 61, Art. 2); a policy naming a measure the data lacks never applies it."""
        measure = self.measures.get(self.policy.ownership_rule.measure)
        return measure is not None and measure.in_force(on)

    @property
    def reference_data_version(self) -> str:
        return f"measures:{self.measures.version};policy:{self.policy.version}"

    def screen(
        self,
        accepted: ApplicationAccepted,
        on: date,
        *,
        is_rescreen: bool = False,
        basis: Literal["receipt", "rescreen", "what_if"] | None = None,
        find_disposition: FindDisposition = no_dispositions,
        general_licences: Mapping[str, Licence] | None = None,
        inactive_general_licences: Mapping[str, str] | None = None,
        drawn_down: bool = False,
    ) -> ScreeningCompleted:
        """Screen one accepted application on a date and recommend a route.

        `on` is the as-of date: `accepted.as_of_date` for a first screening, the re-screen date
        (is_rescreen) or a what-if date (basis="what_if"). `drawn_down`: the re-screen of a
        licensed case whose quantities the general licence it names already counts as drawn."""
        app = accepted.application
        assessed = assess(app, self.policy.end_use)
        end_use = assessed.assessment
        catch_all = assessed.catch_all_risk
        destination = app.route.final_destination_country
        classifications = [
            classify(item, on, self.measures, item_index=i, destination=destination, catch_all_reason=catch_all)
            for i, item in enumerate(app.items)
        ]
        parties = screen_parties(
            app, self.index, self.policy, on, find_disposition, ownership_in_force=self.ownership_in_force(on)
        )
        flags = [*parties.flags, *raise_red_flags(app, self.policy, on, assessed)]
        licence_required = any(c.licence_required for c in classifications)
        missing = list(accepted.missing_documents)
        for c in classifications:
            missing += [f"items.{c.item_index}.{what}:missing" for what in c.information_requested]
        complete = accepted.complete and len(missing) == len(accepted.missing_documents)

        reasons: dict[str, list[Reason]] = {"deny": [], "enhanced": [], "standard": []}
        rule_ids: list[str] = []

        def fire(reason: Reason) -> None:
            if reason.code not in rule_ids:
                rule_ids.append(reason.code)
            reasons[reason.action].append(reason)

        def fire_text(rule: str, action: str, text: str) -> None:
            fire(Reason(code=rule, action=action, text=text))

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
                    text=f"unlisted item(s) {catch_all_items} need a licence under the catch-all; risks: "
                    + ", ".join(dict.fromkeys(code for code, _ in assessed.catch_all_risks)),
                    evidence=[evidence for _, evidence in assessed.catch_all_risks],
                    source=CATCH_ALL_SOURCE,
                )
            )
        for party_reason in parties.findings:
            fire(party_reason)
        for f in flags:
            severity = self.policy.red_flags[f.code].severity if f.code in self.policy.red_flags else "standard"
            fire(Reason(code=f.code, action=severity, text=f"{f.description}: {f.evidence}", evidence=[f.evidence]))

        green, green_flag = self._green_channel(
            accepted, classifications, on, general_licences or {}, inactive_general_licences or {},
            drawn_down=drawn_down,
        )
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

        if parties.missing_documents:
            # A watch-list party's documents are part of a complete application (Regulations Art. 26):
            # without them the case waits for information, like any missing document.
            missing += [d for d in parties.missing_documents if d not in missing]
            complete = False
        if parties.watch_listed:
            green = None  # no general licence for a watch-list party
        if any(item.form is ItemForm.TECHNOLOGY for item in app.items):
            # Rare-earth technologies are also on the catalogue of technologies restricted from
            # export: a technology application is never cleared without a reviewer.
            fire_text("SCR-CLASS-TECH-REVIEW", "standard", "an application for technology is decided by a reviewer")
        exemption = self._humanitarian(accepted, classifications, on, fire_text)
        route, structured = self._route(complete, missing, reasons, classifications, licence_required, green, exemption)
        route_rule = structured[0].code
        if route_rule not in rule_ids:
            rule_ids.append(route_rule)
        applied = exemption if route is Route.NO_LICENCE_REQUIRED else None
        if applied is not None:
            licence_required = False
        valid_until = None
        if route is Route.NO_LICENCE_REQUIRED:
            valid_until = no_licence_valid_until(on, app.items, self.measures)
        if valid_until is not None:
            structured[0] = structured[0].model_copy(
                update={"text": f"{structured[0].text} (decided for {on}, valid until {valid_until})"})
        route_reasons = [f"{r.code}: {r.text}" for r in structured]
        return ScreeningCompleted(
            external_reference=accepted.external_reference,
            application=app,
            complete=complete,
            missing_documents=missing,
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
            as_of_basis=basis or ("rescreen" if is_rescreen else "receipt"),
            valid_until=valid_until,
            exemption=applied,
            submitted_by=accepted.submitted_by,
        )

    def _humanitarian(
        self,
        accepted: ApplicationAccepted,
        classifications: list[ClassificationResult],
        on: date,
        fire: Callable[[str, str, str], None],
    ) -> ExemptionApplied | None:
        """The humanitarian exemption, where the text has one: No. 61 Art. 5 covers No. 61 items
        (foreign-made, operators abroad) and is suspended with No. 61; exports under No. 18 have none."""
        app = accepted.application
        if not (app.humanitarian or app.end_use.category is EndUseCategory.HUMANITARIAN):
            return None
        required = [c for c in classifications if c.licence_required]
        if not required:
            return None
        dest = app.route.final_destination_country
        for m in self.measures.by_kind("humanitarian_exemption"):
            if not all(set(c.measure_ids) <= set(m.exempts) for c in required):
                continue
            if not m.in_force(on, dest):
                fire("SCR-EXEMPT-HUMANITARIAN-NA", "standard",
                     f"humanitarian exemption {m.id} is {m.status_on(on)} on {on}: a licence is required")
                return None
            days = m.report_within_working_days or 0
            return ExemptionApplied(
                rule_id="SCR-EXEMPT-HUMANITARIAN",
                measure_id=m.id,
                text=(f"humanitarian exemption under {m.id} ({m.source}): no licence needed; condition: report "
                      f"the export within {days} PRC working days after it is made; documents are still required"),
                report_within_working_days=days,
                planned_export_date=app.planned_export_date,
            )
        measures = sorted({mid for c in required for mid in c.measure_ids})
        fire("SCR-EXEMPT-HUMANITARIAN-NA", "standard",
             f"no humanitarian exemption covers {measures} (none under No. 18; No. 61 Art. 5 covers only "
             "No. 61 items): a licence is required")
        return None

    def _route(
        self,
        complete: bool,
        missing: list[str],
        reasons: dict[str, list[Reason]],
        classifications: list[ClassificationResult],
        licence_required: bool,
        green: str | None,
        exemption: ExemptionApplied | None,
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
        if not complete:
            what = ", ".join(missing) or "documents"
            head = Reason(
                code="SCR-ROUTE-INCOMPLETE",
                action="incomplete",
                text=f"application incomplete: missing or expired {what}",
                evidence=list(missing),
            )
            return Route.INCOMPLETE, [head, *enhanced, *standard]
        if enhanced:
            return Route.ENHANCED, enhanced + standard + controlled
        if exemption is not None and not standard:
            return Route.NO_LICENCE_REQUIRED, [
                Reason(code=exemption.rule_id, action="no_licence_required", text=exemption.text,
                       measure_id=exemption.measure_id, version=version)
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
                text="no item needs a licence, but findings need a reviewer's inquiry",
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
        inactive: Mapping[str, str],
        *,
        drawn_down: bool = False,
    ) -> tuple[str | None, RedFlag | None]:
        """(reason if a general licence covers this export, flag if one is named but does not)."""
        app = accepted.application
        number = app.general_licence_number
        if not number:
            return None, None
        licence = licences.get(number)
        # Review publishes a general licence's suspension or revocation (licence.status_changed).
        problem = f"is {inactive[number]}" if number in inactive else None
        problem = problem or _general_licence_problem(licence, accepted, classifications, on, drawn_down=drawn_down)
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
    *,
    drawn_down: bool = False,
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
        # Full control codes, sub-item included: a 1C905.b (oxide) licence never covers 1C905.a.
        codes = set(cls.control_codes)
        covering = [
            li for li in licence.items
            if codes and all(any(_code_covers(lc, c) for lc in li.control_codes) for c in codes)
            and li.unit == item.unit
        ]
        if cls.licence_required and not covering:
            return f"item {cls.item_index} ({sorted(codes) or 'unclassified'}) is not covered"
        # The caps screening holds are what remains (review reports usage with each draw-down);
        # an export already drawn down is in those figures, so it is not held against them again.
        if not drawn_down and covering and all(item.quantity > li.quantity_cap for li in covering):
            return (
                f"item {cls.item_index} quantity {item.quantity} {item.unit} "
                "exceeds the cap remaining under the licence"
            )
    return None


def _code_covers(licensed: str, classified: str) -> bool:
    """The same full code, or a finer one under it (1C905 covers 1C905.a; 1C905.b never does)."""
    a, b = licensed.strip().casefold(), classified.strip().casefold()
    return a == b or b.startswith(a + ".")
