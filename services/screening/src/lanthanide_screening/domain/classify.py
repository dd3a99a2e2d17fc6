"""Item classification against the dated control measures.

Rule ids:
  SCR-CLASS-ELEMENT        an element of the item is controlled by a measure in force
  SCR-CLASS-DECLARED-CODE  the applicant declared a control code of a measure in force
  SCR-CLASS-HS-HINT        no element data, but the HS code is a hint of a controlled element
  SCR-CLASS-TECHNOLOGY     a rare-earth technology item (1E902) under a measure in force
  SCR-CLASS-FOREIGN-MADE   foreign-made magnet/target with China-origin content >= de minimis
  SCR-CLASS-CATCH-ALL      unlisted item, but the end use is WMD, terrorism or military
  SCR-CLASS-NOT-CONTROLLED no controlled element in a measure in force
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lanthanide.contracts import ClassificationResult, Item, ItemForm

from lanthanide_screening.domain.reference import Measure, MeasureSet


@dataclass(slots=True)
class _Acc:
    codes: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)

    def add(self, code: str | None, measure: str, rule: str, why: str) -> None:
        if code and code not in self.codes:
            self.codes.append(code)
        if measure not in self.measures:
            self.measures.append(measure)
        if rule not in self.rules:
            self.rules.append(rule)
        self.why.append(why)


def _with_sub_item(code: str, form: ItemForm, measures: MeasureSet) -> str:
    sub = measures.sub_items.get(form.value)
    return f"{code}.{sub}" if sub else code


def classify(
    item: Item,
    on_date: date,
    measures: MeasureSet,
    *,
    item_index: int = 0,
    destination: str | None = None,
    catch_all_reason: str | None = None,
) -> ClassificationResult:
    """Control codes, licence requirement, measure ids and rule ids for one item on a date.

    `catch_all_reason` (from the end-use assessment) makes an otherwise unlisted item need a
    licence (catch-all). Measures out of force on the date are named in the explanation.
    """
    acc = _Acc()
    elements = {e.element for e in item.elements}
    declared = item.control_code.split(".")[0] if item.control_code else None
    dormant: list[str] = []
    for measure in measures.by_kind("item_control"):
        relevant = _relevant(measure, item, elements, declared)
        if not relevant:
            continue
        if not measure.in_force(on_date, destination):
            dormant.append(f"{measure.id} ({measure.status_on(on_date)} on {on_date})")
            continue
        _apply_item_control(measure, item, elements, declared, measures, acc)
    for measure in measures.by_kind("foreign_made"):
        _apply_foreign_made(measure, item, on_date, destination, acc, dormant)
    if catch_all_reason and not acc.codes and not acc.measures:
        acc.add(
            None,
            "CATCH-ALL",
            "SCR-CLASS-CATCH-ALL",
            f"unlisted item needs a licence under the catch-all: {catch_all_reason}",
        )
    required = bool(acc.measures)
    if not required:
        acc.rules.append("SCR-CLASS-NOT-CONTROLLED")
        acc.why.append("no controlled element, code or technology under a measure in force")
    if dormant:
        acc.why.append("not applied: " + ", ".join(dormant))
    return ClassificationResult(
        item_index=item_index,
        control_codes=acc.codes,
        licence_required=required,
        measure_ids=acc.measures,
        rule_ids=acc.rules,
        explanation="; ".join(acc.why),
    )


def _relevant(measure: Measure, item: Item, elements: set[str], declared: str | None) -> bool:
    codes = {c.code for c in measure.controls}
    if elements & {c.element for c in measure.controls} or declared in codes:
        return True
    if item.form is ItemForm.TECHNOLOGY and measure.technology_codes:
        return True
    hints = {h for c in measure.controls for h in c.hs_hints} | set(measure.mixed_hs_hints)
    return not elements and item.hs_code is not None and item.hs_code in hints


def _apply_item_control(
    measure: Measure,
    item: Item,
    elements: set[str],
    declared: str | None,
    measures: MeasureSet,
    acc: _Acc,
) -> None:
    for control in measure.controls:
        if control.element in elements:
            code = _with_sub_item(control.code, item.form, measures)
            note = " (code unconfirmed)" if control.unconfirmed else ""
            acc.add(
                code,
                measure.id,
                "SCR-CLASS-ELEMENT",
                f"{control.element} is controlled as {code}{note} by {measure.id}",
            )
        elif declared == control.code:
            acc.add(
                item.control_code,
                measure.id,
                "SCR-CLASS-DECLARED-CODE",
                f"declared control code {item.control_code} is listed by {measure.id}",
            )
    if item.form is ItemForm.TECHNOLOGY:
        text = item.description.casefold()
        for tech in measure.technology_codes:
            if any(k in text for k in tech.keywords):
                acc.add(
                    tech.code,
                    measure.id,
                    "SCR-CLASS-TECHNOLOGY",
                    f"rare-earth technology {tech.code} under {measure.id}",
                )
    if not elements and item.hs_code:
        hinted = sorted({c.element for c in measure.controls if item.hs_code in c.hs_hints})
        if hinted or item.hs_code in measure.mixed_hs_hints:
            what = ", ".join(hinted) if hinted else "mixed rare-earth oxides"
            acc.add(
                None,
                measure.id,
                "SCR-CLASS-HS-HINT",
                f"no element content given; HS {item.hs_code} suggests {what} under {measure.id}"
                " (HS is a hint: verify the composition)",
            )


def _apply_foreign_made(
    measure: Measure,
    item: Item,
    on_date: date,
    destination: str | None,
    acc: _Acc,
    dormant: list[str],
) -> None:
    if not item.foreign_made or item.form.value not in measure.forms:
        return
    ratio = item.china_origin_rare_earth_value_ratio
    if ratio is None or measure.de_minimis_ratio is None or ratio < measure.de_minimis_ratio:
        return
    if not measure.in_force(on_date, destination):
        dormant.append(f"{measure.id} ({measure.status_on(on_date)} on {on_date})")
        return
    acc.add(
        None,
        measure.id,
        "SCR-CLASS-FOREIGN-MADE",
        f"foreign-made {item.form.value} with China-origin rare-earth value ratio {ratio} "
        f">= de minimis {measure.de_minimis_ratio} under {measure.id}",
    )
