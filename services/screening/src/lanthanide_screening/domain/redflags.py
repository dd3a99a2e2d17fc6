"""Coded red flags (know-your-customer indicators), each with its evidence. A red flag means "inquire":
unresolved, it routes the case to review (standard or enhanced by policy severity); it never denies.

Codes and their meaning are in reference/policy.yaml (`red_flags`); the checks are here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from lanthanide.contracts import (
    Application,
    DocumentKind,
    EndUseCategory,
    PartyRole,
    PaymentMethod,
    RedFlag,
)

from lanthanide_screening.domain.enduse import EndUseResult, assess, finder_for
from lanthanide_screening.domain.reference import Policy
from lanthanide_screening.matching.normalise import normalise_name


def _same_party(a: str, b: str) -> bool:
    return normalise_name(a).sorted_key == normalise_name(b).sorted_key


def raise_red_flags(app: Application, policy: Policy, on: date, end_use: EndUseResult | None = None) -> list[RedFlag]:
    """Every red flag the application raises on a date (`end_use`: the assessment, if made)."""
    flags: list[RedFlag] = []

    def flag(code: str, evidence: str) -> None:
        flags.append(RedFlag(code=code, description=policy.red_flags[code].text, evidence=evidence))

    for code, evidence in (end_use or assess(app, policy.end_use)).text_flags:
        flag(code, evidence)

    finder = finder_for(policy.end_use)
    end_users = app.parties_in_role(PartyRole.END_USER)
    forwarders = app.parties_in_role(PartyRole.FREIGHT_FORWARDER)
    consignees = app.parties_in_role(PartyRole.CONSIGNEE) or app.parties_in_role(PartyRole.IMPORTER)

    for eu in end_users:
        if any(_same_party(eu.name, f.name) for f in forwarders):
            flag("SCR-FLAG-FORWARDER-END-USER", "the end user is also named as the freight forwarder")
        elif hits := finder.find(eu.business_description or "", policy.forwarder_patterns):
            flag("SCR-FLAG-FORWARDER-END-USER", f"end user's business is logistics: {sorted(set(hits))}")
        if consignees and all(c.country != eu.country for c in consignees):
            flag(
                "SCR-FLAG-COUNTRY-MISMATCH",
                f"end user in {eu.country}, consignee/importer in {sorted({c.country for c in consignees})}",
            )
        elif eu.country != app.route.final_destination_country:
            flag(
                "SCR-FLAG-COUNTRY-MISMATCH",
                f"end user in {eu.country}, final destination {app.route.final_destination_country}",
            )
        if hits := finder.find(eu.business_description or "", policy.unrelated_business_patterns):
            flag("SCR-FLAG-BUSINESS-MISMATCH", f"end user's business: {sorted(set(hits))}")

    hubs = policy.transshipment_hubs
    if on >= hubs.effective_from:
        via = sorted(set(app.route.transit_countries) & set(hubs.countries))
        if via:
            flag("SCR-FLAG-TRANSSHIPMENT", f"transit via {via} ({hubs.source})")

    if app.payment_method is PaymentMethod.CASH:
        flag("SCR-FLAG-PAYMENT-CASH", "payment method: cash")
    importers = [p.name for p in app.parties_in_role(PartyRole.IMPORTER)] or [e.name for e in end_users]
    if app.payment_method is PaymentMethod.THIRD_PARTY or (
        app.payer_name and not any(_same_party(app.payer_name, n) for n in importers)
    ):
        flag("SCR-FLAG-PAYMENT-THIRD-PARTY", "payment by a party other than the importer")

    _euc_flags(app, on, flag)

    if app.end_use.re_export_intended:
        flag("SCR-FLAG-RE-EXPORT", "the application states that re-export is intended")
    _quantity_flags(app, policy, on, flag)
    if len(app.end_use.description) < policy.end_use.vague_min_chars or (
        app.end_use.category is EndUseCategory.OTHER
        and len(app.end_use.description) < 2 * policy.end_use.vague_min_chars
    ):
        flag("SCR-FLAG-VAGUE-END-USE", f"end-use description of {len(app.end_use.description)} characters")
    if app.end_use.category is EndUseCategory.SEMICONDUCTOR and (
        app.end_use.semiconductor_node_nm is None and app.end_use.memory_layers is None
    ):
        flag("SCR-FLAG-SEMI-PARAMS-MISSING", "semiconductor end use states neither node nor layer count")
    return flags


def _quantity_flags(app: Application, policy: Policy, on: date, emit: Callable[[str, str], None]) -> None:
    """SCR-FLAG-QUANTITY: an item's mass over the end-use limit, or an element's contained mass
    over its element/form threshold (policy data), once per item."""
    category = app.end_use.category.value
    limits = policy.quantity_limits_kg
    limit = limits.get(category, limits.get("default"))
    table = policy.quantity_thresholds
    for i, item in enumerate(app.items):
        kg = item.quantity_kg()
        if kg is None:
            continue
        found: list[str] = []
        if on >= table.effective_from:
            for content in item.elements:
                contained = kg * content.percent / 100
                for t in table.thresholds:
                    if t.element == content.element and item.form.value in t.forms:
                        cap = t.limit_for(category)
                        if contained > cap:
                            found.append(
                                f"item {i}: {contained.normalize():f} kg of {t.element} as {item.form.value} "
                                f"exceeds {cap} kg for end use {category} "
                                f"(policy setting, not a regulation: {table.source}; basis: {t.basis})"
                            )
        if not found and limit is not None and kg > limit:
            found.append(f"item {i}: {kg} kg exceeds {limit} kg for end use {category}")
        if found:
            emit("SCR-FLAG-QUANTITY", "; ".join(found))


def _euc_flags(app: Application, on: date, emit: Callable[[str, str], None]) -> None:
    end_user_names = [p.name for p in app.parties_in_role(PartyRole.END_USER)]
    for doc in app.documents:
        if doc.kind is not DocumentKind.END_USER_CERTIFICATE:
            continue
        expiry = doc.valid_until()
        if expiry is not None and expiry < on:
            emit("SCR-FLAG-EUC-EXPIRED", f"certificate {doc.reference} valid until {expiry}")
        if doc.states_end_user and not any(_same_party(doc.states_end_user, n) for n in end_user_names):
            emit(
                "SCR-FLAG-EUC-END-USER-MISMATCH",
                f"certificate {doc.reference} names an end user not in the application",
            )
        if (
            doc.states_contract_number
            and app.contract
            and doc.states_contract_number.strip() != app.contract.number.strip()
        ):
            emit(
                "SCR-FLAG-EUC-CONTRACT-MISMATCH",
                f"certificate {doc.reference} names contract {doc.states_contract_number}, "
                f"application {app.contract.number}",
            )
        if doc.no_re_export_commitment is False:
            emit("SCR-FLAG-EUC-NO-COMMITMENT", f"certificate {doc.reference} has no no-re-export commitment")
