"""Checking a submission against the catalogue and the identifier rules.

Pure: takes what the integrator sent (already well-formed JSON of the right types) and
returns a `Submission` whose every field has been validated and normalised, or raises
`SubmissionInvalid` listing every problem at once, each named by its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from onceonly.catalogue import Catalogue, Matter
from onceonly.catalogue.forms import FormViolation, PersonalKind
from onceonly.catalogue.jurisdictions import Jurisdictions, default_jurisdictions
from onceonly.catalogue.model import ApplicantKinds
from onceonly.intake.agents import Agent, AgentDraft, validate_agent
from onceonly.intake.errors import FieldIssue, InvalidValue, SubmissionInvalid
from onceonly.intake.identifiers import parse_mobile, parse_resident_id, parse_uscc
from onceonly.intake.jurisdiction import Routing, route

CHANNELS = ("sms", "app")
LANGUAGES = ("zh", "en")
# The intake's own division when nothing else says (IntakeSettings.region_code's default).
DEFAULT_REGION = "330100"


class ApplicantKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


@dataclass(frozen=True, slots=True)
class MaterialReference:
    code: str
    reference: str


@dataclass(frozen=True, slots=True)
class Consent:
    """The applicant's consent to one shared-data check (授权): `purpose` is the check's
    name (population, real-estate, ...), `reference` the integrator's record of it."""

    purpose: str
    reference: str
    given_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubmissionDraft:
    """What the integrator sent, field by field."""

    matter_code: str
    applicant_kind: str
    applicant_name: str
    applicant_identifier: str
    mobile: str
    channels: tuple[str, ...] = ("sms",)
    language: str = "zh"
    materials: tuple[MaterialReference, ...] = ()
    form: Mapping[str, Any] = field(default_factory=dict)
    agent: AgentDraft | None = None
    consents: tuple[Consent, ...] = ()
    # The division the application concerns (None: the service centre's), and the
    # service centre's own (the intake's region unless the integrator has one).
    region_code: str | None = None
    submitted_region: str = DEFAULT_REGION


@dataclass(frozen=True, slots=True)
class Submission:
    """A valid submission; identifiers and numbers in their normalised form (in `form`
    too: its personal fields are still in the clear here, sealed by `events`)."""

    matter: Matter
    applicant_kind: ApplicantKind
    applicant_name: str
    applicant_identifier: str
    mobile: str
    channels: tuple[str, ...]
    language: str
    materials: tuple[MaterialReference, ...]
    form: Mapping[str, Any]
    agent: Agent | None = None
    consents: tuple[Consent, ...] = ()
    routing: Routing = field(default_factory=lambda: Routing(DEFAULT_REGION, DEFAULT_REGION))

    @property
    def matter_code(self) -> str:
        return self.matter.code


def _allowed(matter: Matter, kind: ApplicantKind) -> bool:
    return matter.applicant_kinds == ApplicantKinds.ANY or matter.applicant_kinds == kind.value


def validate_submission(
    draft: SubmissionDraft,
    catalogue: Catalogue,
    *,
    today: date,
    jurisdictions: Jurisdictions | None = None,
) -> Submission:
    """The validated submission, or SubmissionInvalid with every failing field."""
    issues: list[FieldIssue] = []
    jurisdictions = jurisdictions or default_jurisdictions()

    matter = catalogue.matter(draft.matter_code)
    routing: Routing | None = None
    if matter is not None:
        routed = route(
            matter,
            draft.region_code,
            submitted_region=draft.submitted_region,
            jurisdictions=jurisdictions,
        )
        if isinstance(routed, FieldIssue):
            issues.append(routed)
        else:
            routing = routed
            # The matter as published where it is decided (a shorter limit, a local material).
            matter = catalogue.matter_in(matter.code, routing.competent_region, jurisdictions)
    if matter is None:
        issues.append(
            FieldIssue(
                "matter_code",
                "unknown_matter",
                f"No matter {draft.matter_code!r} in the catalogue; see GET /v1/matters.",
                f"事项清单中没有事项 {draft.matter_code!r}, 请查看 GET /v1/matters.",
            )
        )

    kind: ApplicantKind | None = None
    try:
        kind = ApplicantKind(draft.applicant_kind)
    except ValueError:
        issues.append(
            FieldIssue(
                "applicant.kind",
                "unknown_kind",
                "The applicant kind is 'person' or 'organisation'.",
                "申请人类型应为 person (个人) 或 organisation (组织).",
            )
        )
    if matter is not None and kind is not None and not _allowed(matter, kind):
        issues.append(
            FieldIssue(
                "applicant.kind",
                "kind_not_allowed",
                f"Matter {matter.code} accepts applications from {matter.applicant_kinds.value}"
                f" applicants only, not from {kind.value} applicants.",
                f"事项 {matter.name_zh} 仅受理"
                f"{'个人' if matter.applicant_kinds == ApplicantKinds.PERSON else '组织'}申请.",
            )
        )

    name = draft.applicant_name.strip()
    if not name:
        issues.append(
            FieldIssue(
                "applicant.name", "empty", "The applicant's name is empty.", "申请人名称不能为空."
            )
        )

    identifier = draft.applicant_identifier
    try:
        if kind is ApplicantKind.PERSON:
            identifier = parse_resident_id(draft.applicant_identifier, today=today).number
        elif kind is ApplicantKind.ORGANISATION:
            identifier = parse_uscc(draft.applicant_identifier)
    except InvalidValue as exc:
        issues.append(exc.at("applicant.identifier"))

    mobile = draft.mobile
    try:
        mobile = parse_mobile(draft.mobile)
    except InvalidValue as exc:
        issues.append(exc.at("contact.mobile"))

    if not draft.channels:
        issues.append(
            FieldIssue(
                "contact.channels",
                "empty",
                "Name at least one channel: sms or app.",
                "请至少选择一种通知渠道: sms 或 app.",
            )
        )
    for index, channel in enumerate(draft.channels):
        if channel not in CHANNELS:
            issues.append(
                FieldIssue(
                    f"contact.channels.{index}",
                    "unknown_channel",
                    f"Unknown channel {channel!r}; use sms or app.",
                    f"不支持的通知渠道 {channel!r}, 应为 sms 或 app.",
                )
            )
    if draft.language not in LANGUAGES:
        issues.append(
            FieldIssue(
                "contact.language",
                "unknown_language",
                "The language is zh or en.",
                "通知语言应为 zh 或 en.",
            )
        )

    if matter is not None:
        known = {material.code for material in matter.materials}
        for index, material in enumerate(draft.materials):
            if material.code not in known:
                issues.append(
                    FieldIssue(
                        f"materials.{index}.code",
                        "unknown_material",
                        f"Matter {matter.code} has no material {material.code!r};"
                        f" its materials are: {', '.join(sorted(known))}.",
                        f"事项 {matter.name_zh} 没有材料 {material.code!r}, 可用材料为:"
                        f" {', '.join(sorted(known))}.",
                    )
                )
            if not material.reference.strip():
                issues.append(
                    FieldIssue(
                        f"materials.{index}.reference",
                        "empty",
                        "The material reference is empty.",
                        "材料引用不能为空.",
                    )
                )

    form = dict(draft.form)
    if matter is not None:
        form, form_issues = check_form(matter, draft.form, today=today)
        issues.extend(form_issues)

    agent = None
    if draft.agent is not None:
        agent, agent_issues = validate_agent(
            draft.agent, today=today, applicant_identifier=identifier
        )
        issues.extend(agent_issues)
    if matter is not None:
        issues.extend(consent_issues(matter, draft.consents))

    if issues:
        raise SubmissionInvalid(issues)
    assert matter is not None and kind is not None and routing is not None
    return Submission(
        routing=routing,
        matter=matter,
        applicant_kind=kind,
        applicant_name=name,
        applicant_identifier=identifier,
        mobile=mobile,
        channels=tuple(dict.fromkeys(draft.channels)),
        language=draft.language,
        materials=draft.materials,
        form=form,
        agent=agent,
        consents=draft.consents,
    )


def consent_issues(matter: Matter, consents: tuple[Consent, ...]) -> list[FieldIssue]:
    """A consent names one of the matter's shared-data checks, once, with a reference."""
    issues: list[FieldIssue] = []
    checks = list(matter.shared_data_checks)
    seen: set[str] = set()
    for index, consent in enumerate(consents):
        if consent.purpose not in checks:
            known = ", ".join(checks) or "(none)"
            issues.append(
                FieldIssue(
                    f"consents.{index}.purpose",
                    "unknown_purpose",
                    f"Matter {matter.code} runs no shared-data check {consent.purpose!r};"
                    f" its checks are: {known}.",
                    f"事项 {matter.name_zh} 没有共享数据核验项 {consent.purpose!r}, 可选: {known}.",
                )
            )
        elif consent.purpose in seen:
            issues.append(
                FieldIssue(
                    f"consents.{index}.purpose",
                    "duplicate",
                    f"Consent to {consent.purpose!r} is given twice.",
                    f"对 {consent.purpose!r} 的授权重复.",
                )
            )
        seen.add(consent.purpose)
        if not consent.reference.strip():
            issues.append(
                FieldIssue(
                    f"consents.{index}.reference",
                    "empty",
                    "Name the integrator's record of the consent.",
                    "请提供授权记录编号.",
                )
            )
    return issues


_FORM_MESSAGES_ZH = {
    "unknown_field": "该事项的表单没有此字段",
    "required": "缺少必填字段",
    "type": "字段类型不正确",
    "format": "格式不正确",
    "enum": "取值不在允许范围内",
    "pattern": "格式不正确",
    "too_long": "过长",
    "too_short": "过短",
    "out_of_range": "数值超出范围",
}


def _form_field(path: tuple[str | int, ...]) -> str:
    name = ".".join(("form", *(str(part) for part in path)))
    # An unknown key is the integrator's own text, of any length: name it, briefly.
    return name if len(name) <= 120 else name[:119] + "…"


def _form_issue(matter: Matter, violation: FormViolation) -> FieldIssue:
    field_name = _form_field(violation.path)
    message_zh = _FORM_MESSAGES_ZH.get(violation.code, "字段值不合法")
    if violation.code == "unknown_field":
        known = ", ".join(sorted(matter.form_schema.get("properties", {}))) or "(none)"
        return FieldIssue(
            field_name,
            "unknown_field",
            f"Matter {matter.code} has no form field {field_name}; its form fields are: {known}.",
            f"事项 {matter.name_zh} 的表单没有字段 {field_name}, 可用字段为: {known}.",
        )
    # No value quoted: it may be a mistyped personal number.
    return FieldIssue(
        field_name,
        violation.code,
        f"The form field {field_name} {violation.detail}.",
        f"表单字段 {field_name} {message_zh}.",
    )


def check_form(
    matter: Matter, form: Mapping[str, Any], *, today: date
) -> tuple[dict[str, Any], list[FieldIssue]]:
    """The form checked against the matter's form schema, its personal fields checked
    like the applicant's (check digits, mobile numbers) and normalised; with every issue."""
    violations = matter.form.violations(form)
    issues = [_form_issue(matter, violation) for violation in violations]
    refused = {violation.path for violation in violations}
    normalised = json_copy(form)
    for path, kind in matter.form.personal.items():
        if path in refused:
            continue  # one issue per field
        parent: Any = normalised
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or not isinstance(parent.get(path[-1]), str):
            continue  # absent, or of the wrong type (the schema said so)
        value: str = parent[path[-1]]
        try:
            if kind is PersonalKind.ID_NUMBER:
                value = parse_resident_id(value, today=today).number
            elif kind is PersonalKind.MOBILE:
                value = parse_mobile(value)
            else:
                value = value.strip()
                if not value:
                    raise InvalidValue("empty", "The name is empty.", "姓名不能为空.")
        except InvalidValue as exc:
            issues.append(exc.at(_form_field(path)))
            continue
        parent[path[-1]] = value
    return normalised, issues


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (objects, arrays and scalars): the form as dicts and
    lists of its own, to change in place without changing what was given."""
    if isinstance(value, Mapping):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value
