"""Shared-data checks (数据共享 / 免证办): instead of asking for a certificate, look the
fact up in the base registry.

The rules (`decide_*`) are pure functions of registry records; `run_checks` asks the
registry for what the requested checks need, once each, and applies them. A check
that cannot be confirmed fails: the applicant then provides the paper, which is the
safe outcome. Reasons are given in English and Chinese and never quote personal data,
so they can go into events, notices and logs.

Form fields the rules read (all optional):
- `to_district` (or `destination_district`, `destination`): for a household transfer,
  the destination district, as a code (`330108`) or a name (`滨江区`, `杭州市滨江区`);
  the real-estate check then needs a property there.
- `marital_status`: the status the applicant declared (married, unmarried, divorced,
  widowed); the marriage check then confirms it rather than only that one is recorded.
- `required_elicence_type`: the e-licence type the matter needs (e.g.
  `construction-qualification`); otherwise any valid e-licence passes.

None of them is personal. Fields the matter's form schema marks personal (a spouse's
name, ID number, mobile) arrive sealed (`{"sealed", "masked"}`, context
`onceonly.platform.pii.form_field_context`); a rule that needs one opens it with the PII
key in the activity, as the applicant's identifier is opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import structlog

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.platform.pii import mask_identifier
from onceonly.workflow.registry import (
    BaseRegistry,
    CreditRecord,
    ELicenceRecord,
    ELicenceStatus,
    MaritalStatus,
    OrganisationRecord,
    OrganisationStatus,
    PersonRecord,
    PropertyRecord,
    SocialInsuranceRecord,
)

log = structlog.get_logger(__name__)

# The version of the rules below (`decide_*` and MIN_SOCIAL_INSURANCE_MONTHS): recorded
# with every check and with a 秒批 decision, so that a decision can be explained from the
# record alone. Raise it whenever a rule changes what it confirms.
RULES_VERSION = "shared-data-rules/2026.1"

# Continuous months of contributions a housing-fund loan asks for.
MIN_SOCIAL_INSURANCE_MONTHS = 6
_DESTINATION_FIELDS = ("to_district", "destination_district", "destination")


class Check(StrEnum):
    POPULATION = "population"
    LEGAL_PERSONS = "legal-persons"
    REAL_ESTATE = "real-estate"
    E_LICENCES = "e-licences"
    MARRIAGE = "marriage"
    SOCIAL_INSURANCE = "social-insurance"
    CREDIT = "credit"


class ApplicantKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome. `code` is for machines; the reasons are for people."""

    check: str
    passed: bool
    reason: str  # English
    reason_zh: str = ""
    code: str = ""
    # Provenance: the registry that answered, its record, and when it was asked. The
    # reference is a certificate or licence number, or the registry's opaque record key
    # (`BaseRegistry.record_key`), never an identifier in the clear.
    registry: str = ""
    record_reference: str = ""
    checked_at: datetime | None = None


def _pass(check: Check, reason: str, reason_zh: str) -> CheckResult:
    return CheckResult(str(check), True, reason, reason_zh, "confirmed")


def _fail(check: str, code: str, reason: str, reason_zh: str) -> CheckResult:
    return CheckResult(str(check), False, reason, reason_zh, code)


def _not_applicable(check: Check, kind: ApplicantKind) -> CheckResult:
    if kind is ApplicantKind.PERSON:
        return _fail(check, "not_applicable", "applies to organisations only", "仅适用于法人申请人")
    return _fail(check, "not_applicable", "applies to persons only", "仅适用于自然人申请人")


# --- the rules ---------------------------------------------------------------------


def decide_population(
    kind: ApplicantKind,
    *,
    person: PersonRecord | None = None,
    organisation: OrganisationRecord | None = None,
) -> CheckResult:
    """A person is registered and alive; an organisation's legal representative is."""
    check = Check.POPULATION
    if kind is ApplicantKind.ORGANISATION:
        if organisation is None:
            return _fail(
                check,
                "organisation_not_found",
                "organisation not found in the legal-person registry",
                "法人库中无此单位",
            )
        person = organisation.legal_representative
        if person is None:
            return _fail(
                check,
                "legal_representative_not_found",
                "legal representative not found in the population registry",
                "人口库中无法定代表人信息",
            )
        if not person.alive:
            return _fail(
                check,
                "legal_representative_deceased",
                "legal representative recorded as deceased",
                "法定代表人已登记死亡",
            )
        return _pass(
            check,
            "legal representative confirmed by the population registry",
            "法定代表人身份已核验",
        )
    if person is None:
        return _fail(
            check, "not_found", "not found in the population registry", "人口库中无此人信息"
        )
    if not person.alive:
        return _fail(check, "deceased", "recorded as deceased", "已登记死亡")
    return _pass(check, "identity confirmed by the population registry", "身份信息已核验")


def decide_legal_persons(
    kind: ApplicantKind, *, organisation: OrganisationRecord | None
) -> CheckResult:
    """The organisation is registered and active (not revoked)."""
    check = Check.LEGAL_PERSONS
    if kind is not ApplicantKind.ORGANISATION:
        return _not_applicable(check, kind)
    if organisation is None:
        return _fail(
            check, "not_found", "not found in the legal-person registry", "法人库中无此单位"
        )
    if organisation.status is not OrganisationStatus.ACTIVE:
        return _fail(check, "revoked", "business licence revoked", "营业执照已被吊销")
    return _pass(check, "registered and active", "法人登记状态正常")


def _in_district(prop: PropertyRecord, wanted: str) -> bool:
    if wanted in (prop.district_code, prop.district_name):
        return True
    # A district name without its city (滨江区 for 杭州市滨江区).
    head = prop.district_name.removesuffix(wanted)
    return head != prop.district_name and head.endswith("市")


def destination_district(form: Mapping[str, Any]) -> str:
    """The destination district the form names, or "" when it names none."""
    for name in _DESTINATION_FIELDS:
        value = form.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return ""


def decide_real_estate(
    properties: Sequence[PropertyRecord], form: Mapping[str, Any]
) -> CheckResult:
    """The applicant owns property; in the destination district when the form names one."""
    check = Check.REAL_ESTATE
    wanted = destination_district(form)
    if wanted:
        if any(_in_district(prop, wanted) for prop in properties):
            return _pass(
                check, "property registered in the destination district", "迁入地有不动产登记"
            )
        return _fail(
            check,
            "no_property_in_district",
            "no property registered in the destination district",
            "迁入地无不动产登记",
        )
    if properties:
        return _pass(check, "property registered", "有不动产登记")
    return _fail(check, "no_property", "no property registered", "无不动产登记")


def decide_marriage(
    kind: ApplicantKind, *, person: PersonRecord | None, form: Mapping[str, Any]
) -> CheckResult:
    """The marital status is recorded, and matches the declared one if there is one."""
    check = Check.MARRIAGE
    if kind is not ApplicantKind.PERSON:
        return _not_applicable(check, kind)
    if person is None:
        return _fail(
            check, "not_found", "not found in the population registry", "人口库中无此人信息"
        )
    if person.marital_status is MaritalStatus.UNKNOWN:
        return _fail(check, "status_unknown", "marital status not recorded", "无婚姻登记信息")
    declared = form.get("marital_status")
    if isinstance(declared, str) and declared.strip():
        if declared.strip().lower() != person.marital_status.value:
            return _fail(
                check,
                "status_mismatch",
                "declared marital status differs from the marriage registry",
                "申报的婚姻状况与婚姻登记信息不一致",
            )
        return _pass(check, "declared marital status confirmed", "婚姻状况与登记信息一致")
    return _pass(check, "marital status confirmed", "婚姻状况已核验")


def decide_social_insurance(record: SocialInsuranceRecord | None) -> CheckResult:
    """At least `MIN_SOCIAL_INSURANCE_MONTHS` months of continuous contributions."""
    check = Check.SOCIAL_INSURANCE
    if record is None:
        return _fail(check, "no_record", "no social insurance record", "无社保缴纳记录")
    if record.months_continuous < MIN_SOCIAL_INSURANCE_MONTHS:
        return _fail(
            check,
            "too_short",
            f"fewer than {MIN_SOCIAL_INSURANCE_MONTHS} months of continuous contributions",
            f"连续缴纳社保不足 {MIN_SOCIAL_INSURANCE_MONTHS} 个月",
        )
    return _pass(
        check,
        f"at least {MIN_SOCIAL_INSURANCE_MONTHS} months of continuous contributions",
        f"连续缴纳社保满 {MIN_SOCIAL_INSURANCE_MONTHS} 个月",
    )


def decide_credit(record: CreditRecord | None) -> CheckResult:
    """Not on the dishonest-debtor list and no overdue loan."""
    check = Check.CREDIT
    if record is None:
        return _fail(check, "no_record", "no credit record", "无信用记录")
    if record.blacklisted:
        return _fail(
            check, "blacklisted", "listed as a dishonest judgment debtor", "列入失信被执行人名单"
        )
    if record.overdue_loans > 0:
        return _fail(check, "overdue_loan", "has an overdue loan", "存在逾期贷款")
    return _pass(check, "no adverse credit record", "无不良信用记录")


def licence_valid(licence: ELicenceRecord, today: date) -> bool:
    """Not revoked, already issued and not expired (valid through `valid_until`)."""
    return (
        licence.status is ELicenceStatus.VALID
        and licence.issued_on <= today
        and (licence.valid_until is None or today <= licence.valid_until)
    )


def decide_elicences(
    licences: Sequence[ELicenceRecord], form: Mapping[str, Any], *, today: date
) -> CheckResult:
    """The holder has a valid e-licence (of the type the form requires, if any)."""
    check = Check.E_LICENCES
    required = form.get("required_elicence_type")
    wanted = required.strip() if isinstance(required, str) else ""
    candidates = [lic for lic in licences if not wanted or lic.licence_type == wanted]
    if any(licence_valid(lic, today) for lic in candidates):
        return _pass(check, "valid e-licence found", "电子证照有效")
    if candidates:
        return _fail(check, "not_valid", "e-licence expired or revoked", "电子证照已过期或已被注销")
    return _fail(check, "not_found", "no e-licence of the required type", "无所需电子证照")


# --- asking the registry -----------------------------------------------------------


class _Fact(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"
    PROPERTIES = "properties"
    SOCIAL_INSURANCE = "social_insurance"
    CREDIT = "credit"
    ELICENCES = "elicences"


def _needs(check: Check, kind: ApplicantKind) -> _Fact | None:
    if check is Check.POPULATION:
        return _Fact.PERSON if kind is ApplicantKind.PERSON else _Fact.ORGANISATION
    if check is Check.LEGAL_PERSONS:
        return _Fact.ORGANISATION if kind is ApplicantKind.ORGANISATION else None
    if check is Check.MARRIAGE:
        return _Fact.PERSON if kind is ApplicantKind.PERSON else None
    return {
        Check.REAL_ESTATE: _Fact.PROPERTIES,
        Check.SOCIAL_INSURANCE: _Fact.SOCIAL_INSURANCE,
        Check.CREDIT: _Fact.CREDIT,
        Check.E_LICENCES: _Fact.ELICENCES,
    }[check]


# Which base registry answers each fact.
_REGISTRIES = {
    _Fact.PERSON: "population",
    _Fact.ORGANISATION: "legal-persons",
    _Fact.PROPERTIES: "real-estate",
    _Fact.SOCIAL_INSURANCE: "social-insurance",
    _Fact.CREDIT: "credit",
    _Fact.ELICENCES: "e-licences",
}


def _reference(fact: _Fact, value: Any, record_key: str, form: Mapping[str, Any]) -> str:
    """The record a check relied on: the certificates or licences it found, else the
    registry's opaque key of the applicant (what was asked, found or not)."""
    if fact is _Fact.PROPERTIES and value:
        wanted = destination_district(form)
        found = [p for p in value if not wanted or _in_district(p, wanted)] or list(value)
        return ",".join(sorted(p.certificate_number for p in found))
    if fact is _Fact.ELICENCES and value:
        return ",".join(sorted(licence.number for licence in value))
    return f"{_REGISTRIES[fact]}/{record_key}"


def _fetch(registry: BaseRegistry, fact: _Fact, identifier: str) -> Awaitable[Any]:
    return {
        _Fact.PERSON: registry.person,
        _Fact.ORGANISATION: registry.organisation,
        _Fact.PROPERTIES: registry.real_estate,
        _Fact.SOCIAL_INSURANCE: registry.social_insurance,
        _Fact.CREDIT: registry.credit,
        _Fact.ELICENCES: registry.elicences,
    }[fact](identifier)


def _decide(
    check: Check,
    kind: ApplicantKind,
    facts: Mapping[_Fact, Any],
    form: Mapping[str, Any],
    today: date,
) -> CheckResult:
    if check is Check.POPULATION:
        return decide_population(
            kind, person=facts.get(_Fact.PERSON), organisation=facts.get(_Fact.ORGANISATION)
        )
    if check is Check.LEGAL_PERSONS:
        return decide_legal_persons(kind, organisation=facts.get(_Fact.ORGANISATION))
    if check is Check.MARRIAGE:
        return decide_marriage(kind, person=facts.get(_Fact.PERSON), form=form)
    if check is Check.REAL_ESTATE:
        return decide_real_estate(facts[_Fact.PROPERTIES], form)
    if check is Check.SOCIAL_INSURANCE:
        return decide_social_insurance(facts[_Fact.SOCIAL_INSURANCE])
    if check is Check.CREDIT:
        return decide_credit(facts[_Fact.CREDIT])
    return decide_elicences(facts[_Fact.ELICENCES], form, today=today)


def china_today() -> date:
    """Today's date in China Standard Time, the day e-licence validity is judged on."""
    return datetime.now(UTC).astimezone(CHINA_STANDARD_TIME).date()


async def run_checks(
    registry: BaseRegistry,
    applicant_kind: str,
    identifier: str,
    checks: Sequence[str],
    form: Mapping[str, Any],
    *,
    today: date | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[CheckResult]:
    """Run the named checks for one applicant; one result per name, in order, each with
    its provenance (registry, record reference, time of the question).

    An unknown check name or applicant kind fails that check (reason "unknown check" /
    "unknown applicant kind") rather than raising. A registry that cannot be reached
    raises: that is a reason to retry, not an answer. The identifier is logged masked.
    """
    day = today or china_today()
    known = {str(c) for c in Check}
    try:
        kind: ApplicantKind | None = ApplicantKind(applicant_kind)
    except ValueError:
        kind = None

    wanted: dict[str, Check] = {name: Check(name) for name in checks if name in known}
    facts_needed: set[_Fact] = set()
    if kind is not None:
        for check in wanted.values():
            fact = _needs(check, kind)
            if fact is not None:
                facts_needed.add(fact)
    # One question at a time: an adapter need not support concurrent use (a single
    # database connection does not).
    facts: dict[_Fact, Any] = {}
    asked_at: dict[_Fact, datetime] = {}
    for fact in sorted(facts_needed):
        asked_at[fact] = now()
        facts[fact] = await _fetch(registry, fact, identifier)
    record_key = registry.record_key(identifier) if facts_needed else ""

    results: list[CheckResult] = []
    for name in checks:
        if name not in wanted:
            results.append(_fail(name, "unknown_check", "unknown check", "未知的共享数据核验项"))
        elif kind is None:
            results.append(
                _fail(name, "unknown_applicant_kind", "unknown applicant kind", "未知的申请人类型")
            )
        else:
            result = _decide(wanted[name], kind, facts, form, day)
            fact = _needs(wanted[name], kind)
            if fact is not None:
                result = replace(
                    result,
                    registry=_REGISTRIES[fact],
                    record_reference=_reference(fact, facts[fact], record_key, form),
                    checked_at=asked_at[fact],
                )
            results.append(result)

    log.info(
        "shared-data checks decided",
        applicant=mask_identifier(identifier.strip()),
        applicant_kind=applicant_kind,
        passed=[r.check for r in results if r.passed],
        failed=[f"{r.check}:{r.code}" for r in results if not r.passed],
    )
    return results


def all_passed(results: Sequence[CheckResult]) -> bool:
    """Every check passed (and there was at least one): the condition of auto-approval."""
    return bool(results) and all(result.passed for result in results)
