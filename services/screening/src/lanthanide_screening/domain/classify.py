"""Item classification against the dated control measures (reference/measures.yaml).

Every rule is evaluated on one date, the application's as-of date (see docs/rules.md,
"Classification and dates"). Rule ids:
  SCR-CLASS-ELEMENT             a declared element is controlled, in this form, by a measure in force
  SCR-CLASS-DECLARED-CODE       the applicant declared a control code of a measure in force
  SCR-CLASS-COMPOSITION-MISSING a controlled element/compound is named, or the HS code is a reference
                                code of a measure in force, but no composition is declared: incomplete
  SCR-CLASS-NOT-A-LISTED-FORM   the element is controlled, but not in this form (e.g. a Gd magnet,
                                a Sm magnet that is not SmCo, a finished good)
  SCR-CLASS-TECHNOLOGY          a rare-earth technology (1E902, No. 62) under a measure in force
  SCR-CLASS-TECH-CATALOGUE      a rare-earth technology on the export-restricted technology catalogue
  SCR-CLASS-LISTED-EQUIPMENT    equipment or materials listed by description (No. 56)
  SCR-CLASS-FOREIGN-MADE        foreign-made Part-2 item at or above No. 61's de minimis
  SCR-CLASS-FOREIGN-BELOW-DE-MINIMIS  foreign-made Part-2 item below the de minimis
  SCR-CLASS-FOREIGN-NOT-LISTED  foreign-made item outside No. 61 (not a Part-2 form, or No. 61 not in force)
  SCR-CLASS-CATCH-ALL           unlisted item, but the end use is WMD, terrorism or military
  SCR-CLASS-NOT-CONTROLLED      no controlled element, code or technology under a measure in force
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from lanthanide.contracts import ClassificationResult, Item, ItemForm

from lanthanide_screening.domain.reference import ElementControl, Measure, MeasureSet


@lru_cache(maxsize=512)
def _words(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile(r"(?<![\w])(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?![\w])", re.IGNORECASE)


def _mentions(text: str, patterns: list[str]) -> list[str]:
    rx = _words(tuple(patterns))
    return [m.group(0) for m in rx.finditer(text)] if rx else []


@dataclass(slots=True)
class _Acc:
    codes: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    def add(self, code: str | None, measure: str | None, rule: str, why: str) -> None:
        if code and code not in self.codes:
            self.codes.append(code)
        if measure and measure not in self.measures:
            self.measures.append(measure)
        self.note(rule, why)

    def note(self, rule: str, why: str) -> None:
        if rule not in self.rules:
            self.rules.append(rule)
        self.why.append(why)


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

    Never "not controlled" for lack of data: a controlled element named without a composition is
    incomplete (information_requested=['composition']). Foreign-made items are assessed only
    under the foreign-made measure (No. 61). `catch_all_reason` (from the end-use assessment)
    makes an otherwise unlisted item need a licence. Measures out of force are named.
    """
    acc = _Acc()
    dormant: list[str] = []
    de_minimis: tuple[str, Decimal] | None = None
    if item.foreign_made:
        de_minimis = _foreign_made(item, on_date, measures, destination, acc, dormant)
    else:
        _china_export(item, on_date, measures, destination, acc, dormant)
    if catch_all_reason and not acc.measures and not acc.requested:
        acc.add(
            None,
            "CATCH-ALL",
            "SCR-CLASS-CATCH-ALL",
            f"unlisted item needs a licence under the catch-all: {catch_all_reason}",
        )
    required = bool(acc.measures)
    if not required and not acc.requested:
        acc.note(
            "SCR-CLASS-NOT-CONTROLLED",
            f"no controlled element, code or technology under a measure in force on {on_date}",
        )
    if dormant:
        acc.why.append("not applied: " + ", ".join(dormant))
    return ClassificationResult(
        item_index=item_index,
        control_codes=acc.codes,
        licence_required=required,
        measure_ids=acc.measures,
        rule_ids=acc.rules,
        explanation="; ".join(acc.why),
        information_requested=acc.requested,
        de_minimis=de_minimis[0] if de_minimis else None,
        de_minimis_ratio=de_minimis[1] if de_minimis else None,
    )


# ---------------------------------------------------------------- exports from China


def _china_export(
    item: Item, on: date, measures: MeasureSet, destination: str | None, acc: _Acc, dormant: list[str]
) -> None:
    elements = {e.element for e in item.elements}
    declared = item.control_code.split(".")[0] if item.control_code else None
    for measure in measures.by_kind("item_control"):
        if measure.scope == "foreign_made" or not _relevant(measure, item, elements, declared):
            continue
        if not measure.in_force(on, destination):
            dormant.append(f"{measure.id} ({measure.status_on(on)} on {on})")
            continue
        _apply_item_control(measure, item, elements, declared, acc)
    if item.form is ItemForm.TECHNOLOGY:
        for measure in measures.by_kind("technology_catalogue"):
            if measure.in_force(on, destination) and (hits := _mentions(item.description, measure.keywords)):
                acc.add(
                    None,
                    measure.id,
                    "SCR-CLASS-TECH-CATALOGUE",
                    f"technology naming {sorted({h.casefold() for h in hits})} is on the catalogue of technologies "
                    f"restricted from export ({measure.source})",
                )


def _relevant(measure: Measure, item: Item, elements: set[str], declared: str | None) -> bool:
    if elements & {c.element for c in measure.controls} or declared in {c.code for c in measure.controls}:
        return True
    if item.form is ItemForm.TECHNOLOGY and measure.technology_codes:
        return True
    if measure.keyword_controls and any(_mentions(item.description, k.patterns) for k in measure.keyword_controls):
        return True
    if elements or item.form is ItemForm.TECHNOLOGY:
        return False
    return bool(_named_controls(measure, item))


def _named_controls(measure: Measure, item: Item) -> list[str]:
    """Why an item without a composition looks like an item of the measure (names, HS codes)."""
    found = []
    for control in measure.controls:
        if hits := _mentions(item.description, control.names):
            found.append(f"the description names {control.element} ({hits[0]!r})")
        elif item.hs_code and item.hs_code in control.hs_reference:
            found.append(f"HS {item.hs_code} is a reference code of {control.code} ({control.element})")
    if item.hs_code and item.hs_code in measure.mixed_hs_reference and not found:
        found.append(f"HS {item.hs_code} is a reference code {measure.id} lists for mixtures")
    return found


def _apply_item_control(measure: Measure, item: Item, elements: set[str], declared: str | None, acc: _Acc) -> None:
    for control in measure.controls:
        if control.element in elements:
            _element(control, measure, item, elements, acc)
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
    for kc in measure.keyword_controls:
        if hits := _mentions(item.description, kc.patterns):
            note = " (list to be confirmed)" if kc.unconfirmed else ""
            acc.add(kc.code, measure.id, "SCR-CLASS-LISTED-EQUIPMENT", f"{hits[0]!r} is listed by {measure.id}{note}")
    if not elements and item.form is not ItemForm.TECHNOLOGY and not acc.codes:
        if named := _named_controls(measure, item):
            if "composition" not in acc.requested:
                acc.requested.append("composition")
            acc.note(
                "SCR-CLASS-COMPOSITION-MISSING",
                f"{'; '.join(named)} under {measure.id}, but no composition is declared: "
                "information requested (composition); the item cannot be cleared without it",
            )


def _element(control: ElementControl, measure: Measure, item: Item, elements: set[str], acc: _Acc) -> None:
    note = " (code unconfirmed)" if control.unconfirmed else ""
    form = item.form
    if form is ItemForm.OTHER:
        # The form is not stated: the element is controlled, the sub-item is for review to settle.
        acc.add(
            control.code,
            measure.id,
            "SCR-CLASS-ELEMENT",
            f"{control.element} is controlled as {control.code}{note} by {measure.id} (form not stated)",
        )
        return
    sub = control.sub_items.get(form.value)
    if sub is None:
        what = (
            "finished goods are not items of"
            if form is ItemForm.FINISHED_GOOD
            else f"no {form.value} entry for {control.element} in"
        )
        acc.note("SCR-CLASS-NOT-A-LISTED-FORM", f"{control.element} {form.value}: {what} {measure.id}")
        return
    if form is ItemForm.MAGNET and control.magnet is not None:
        entry = control.magnet
        if not (set(entry.needs_elements) & elements or _mentions(item.description, entry.or_words)):
            acc.note(
                "SCR-CLASS-NOT-A-LISTED-FORM",
                f"{control.element} magnet: {measure.id} lists magnet materials for {control.element} only with "
                f"{'/'.join(entry.needs_elements)} (e.g. {entry.or_words[0] if entry.or_words else ''})",
            )
            return
    code = f"{control.code}.{sub}"
    acc.add(
        code,
        measure.id,
        "SCR-CLASS-ELEMENT",
        f"{control.element} {form.value} is controlled as {code}{note} by {measure.id}",
    )


# ---------------------------------------------------------------- foreign-made items (No. 61 only)


def _foreign_made(
    item: Item, on: date, measures: MeasureSet, destination: str | None, acc: _Acc, dormant: list[str]
) -> tuple[str, Decimal] | None:
    applicable = [m for m in measures.by_kind("foreign_made")]
    if not applicable:
        acc.note("SCR-CLASS-FOREIGN-NOT-LISTED", "foreign-made item: no foreign-made measure is loaded")
        return None
    verdict: tuple[str, Decimal] | None = None
    for measure in applicable:
        if item.form.value not in measure.forms:
            acc.note(
                "SCR-CLASS-FOREIGN-NOT-LISTED",
                f"foreign-made {item.form.value}: not a Part-2 item of {measure.id} ({', '.join(measure.forms)}); "
                "Announcement No. 18 governs exports from China only",
            )
            continue
        if not measure.in_force(on, destination):
            dormant.append(f"{measure.id} ({measure.status_on(on)} on {on})")
            acc.note(
                "SCR-CLASS-FOREIGN-NOT-LISTED",
                f"foreign-made {item.form.value}: {measure.id} is {measure.status_on(on)} on {on}",
            )
            continue
        ratio, basis = _part1_ratio(item, measure)
        if ratio is None:
            if "china_origin_materials" not in acc.requested:
                acc.requested.append("china_origin_materials")
            acc.note(
                "SCR-CLASS-COMPOSITION-MISSING",
                f"foreign-made {item.form.value} under {measure.id}: the value of China-origin Part-1 materials "
                "is not declared: information requested (china_origin_materials)",
            )
            continue
        threshold = measure.de_minimis_ratio or Decimal(0)
        shown = f"{(ratio * 100).quantize(Decimal('0.0001'), ROUND_HALF_UP).normalize()} %"
        limit = f"{(threshold * 100).normalize()} %"
        if ratio >= threshold:
            verdict = ("at_or_above", ratio)
            acc.add(
                None,
                measure.id,
                "SCR-CLASS-FOREIGN-MADE",
                f"foreign-made {item.form.value}: China-origin Part-1 materials are {shown} of its value ({basis}), "
                f"at or above the de minimis {limit} of {measure.id}: licence required",
            )
        else:
            verdict = verdict or ("below", ratio)
            acc.note(
                "SCR-CLASS-FOREIGN-BELOW-DE-MINIMIS",
                f"foreign-made {item.form.value}: China-origin Part-1 materials are {shown} of its value ({basis}), "
                f"below the de minimis {limit} of {measure.id}",
            )
    return verdict


def _part1_ratio(item: Item, measure: Measure) -> tuple[Decimal | None, str]:
    """The value ratio of China-origin Part-1 materials: from the materials if declared (Nd, Pr and
    other non-Part-1 materials are left out), else the declared ratio."""
    if item.china_origin_materials:
        part1 = [m for m in item.china_origin_materials if m.element in measure.part1_elements]
        left_out = sorted({m.element for m in item.china_origin_materials} - set(measure.part1_elements))
        if item.value == 0:
            return None, "item value is zero"
        counted = sum((m.value for m in part1), Decimal(0))
        basis = f"counted {sorted({m.element for m in part1}) or 'none'}"
        if left_out:
            basis += f"; not Part-1 materials, not counted: {left_out}"
        return counted / item.value, basis
    if item.china_origin_rare_earth_value_ratio is not None:
        return item.china_origin_rare_earth_value_ratio, "declared ratio"
    return None, ""


# ---------------------------------------------------------------- dates


def next_change_after(on: date, measures: MeasureSet, touching: list[str]) -> date | None:
    """The first day after `on` on which any of the named measures changes status."""
    days = [d for m in measures.measures if m.id in touching for d in m.change_dates() if d > on]
    return min(days) if days else None


def measures_touching(items: list[Item], measures: MeasureSet) -> list[str]:
    """Ids of the measures (in force or not) that could apply to these items on some date."""
    touching: list[str] = []
    for item in items:
        elements = {e.element for e in item.elements}
        declared = item.control_code.split(".")[0] if item.control_code else None
        for m in measures.measures:
            if m.kind == "item_control" and not item.foreign_made:
                hit = _relevant(m, item, elements, declared)
            elif m.kind == "foreign_made":
                hit = item.foreign_made and item.form.value in m.forms
            elif m.kind == "humanitarian_exemption":
                hit = item.foreign_made and any(
                    (x := measures.get(e)) is not None and item.form.value in x.forms for e in m.exempts
                )
            elif m.kind == "technology_catalogue":
                hit = item.form is ItemForm.TECHNOLOGY
            else:
                hit = False
            if hit and m.id not in touching:
                touching.append(m.id)
    return touching


def no_licence_valid_until(on: date, items: list[Item], measures: MeasureSet) -> date:
    """Last day a no-licence-required answer for these items holds: the day before the next dated
    change of a measure touching them, else `no_licence_required_valid_days` from `on`."""
    nxt = next_change_after(on, measures, measures_touching(items, measures))
    default = on + timedelta(days=measures.no_licence_required_valid_days)
    if nxt is None:
        return default
    return min(nxt - timedelta(days=1), default)
