"""Agents (帮代办): a person who applies on the applicant's behalf, and the applicant's
authorisation that says what the agent may do, for how long, and how it was given.

Pure: `validate_agent` checks what the integrator sent with a submission; `authorise`
is the one rule every act of an agent passes (inside the scope, inside the validity,
judged on the day in China). The agent's name, ID number and mobile are personal data
and are sealed by `events` like the applicant's.

Acts: `submit`, `supplement`, `withdraw`, `rate` are things the agent may do;
`receive_notifications` means the agent is told of progress too (notify). Validity is
two calendar days, both inclusive, in China Standard Time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from onceonly.intake.errors import AgentNotAuthorised, FieldIssue, InvalidValue
from onceonly.intake.identifiers import parse_mobile, parse_resident_id

# The longest authorisation intake records: a standing letter is renewed yearly.
MAX_VALIDITY_DAYS = 366
FIELD = "agent"


class Act(StrEnum):
    SUBMIT = "submit"
    SUPPLEMENT = "supplement"
    WITHDRAW = "withdraw"
    RATE = "rate"
    RECEIVE_NOTIFICATIONS = "receive_notifications"


class Relation(StrEnum):
    RELATIVE = "relative"
    EMPLOYEE = "employee"  # a company's staff member
    SERVICE_CENTRE = "service_centre"  # a service-centre helper (帮代办员)
    LAWYER = "lawyer"
    OTHER = "other"


class GivenBy(StrEnum):
    SIGNED_LETTER = "signed_letter"  # 授权委托书, uploaded as a material
    RECORDED_CONSENT = "recorded_consent"  # recorded by the integrator (app, kiosk)


@dataclass(frozen=True, slots=True)
class Authorisation:
    scope: tuple[Act, ...]
    valid_from: date
    valid_until: date
    given_by: GivenBy
    letter_reference: str = ""
    consent_reference: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "scope": [str(act) for act in self.scope],
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "given_by": str(self.given_by),
            "letter_reference": self.letter_reference,
            "consent_reference": self.consent_reference,
        }

    @classmethod
    def from_json(cls, value: dict[str, object]) -> Authorisation:
        scope = value.get("scope") or []
        assert isinstance(scope, list)
        return cls(
            scope=tuple(Act(str(act)) for act in scope),
            valid_from=date.fromisoformat(str(value["valid_from"])),
            valid_until=date.fromisoformat(str(value["valid_until"])),
            given_by=GivenBy(str(value["given_by"])),
            letter_reference=str(value.get("letter_reference") or ""),
            consent_reference=str(value.get("consent_reference") or ""),
        )


@dataclass(frozen=True, slots=True)
class AgentDraft:
    """What the integrator sent about the agent, field by field."""

    name: str
    identifier: str
    mobile: str
    relation: str
    scope: tuple[str, ...]
    valid_from: date
    valid_until: date
    given_by: str
    organisation: str = ""
    letter_reference: str = ""
    consent_reference: str = ""


@dataclass(frozen=True, slots=True)
class Agent:
    """A valid agent; identifiers normalised, still in the clear (sealed by `events`)."""

    name: str
    identifier: str
    mobile: str
    relation: Relation
    organisation: str
    authorisation: Authorisation


def authorise(authorisation: Authorisation | None, act: Act, *, today: date) -> None:
    """Raise AgentNotAuthorised unless the authorisation covers `act` on `today`."""
    if authorisation is None:
        raise AgentNotAuthorised(
            "no_agent",
            "This application was not submitted through an agent; no agent may act on it.",
            "该申请未登记代办人, 代办人不能办理.",
        )
    if act not in authorisation.scope:
        allowed = ", ".join(str(a) for a in authorisation.scope)
        raise AgentNotAuthorised(
            "outside_scope",
            f"The applicant's authorisation does not cover '{act}'; it covers: {allowed}.",
            f"申请人的授权不包括 {act}, 授权范围为: {allowed}.",
        )
    if today < authorisation.valid_from:
        raise AgentNotAuthorised(
            "not_yet_valid",
            f"The applicant's authorisation is valid from {authorisation.valid_from}.",
            f"申请人的授权自 {authorisation.valid_from} 起生效.",
        )
    if today > authorisation.valid_until:
        raise AgentNotAuthorised(
            "expired",
            f"The applicant's authorisation expired after {authorisation.valid_until}.",
            f"申请人的授权已于 {authorisation.valid_until} 到期.",
        )


def _issue(field: str, code: str, en: str, zh: str) -> FieldIssue:
    return FieldIssue(f"{FIELD}.{field}", code, en, zh)


def validate_agent(
    draft: AgentDraft, *, today: date, applicant_identifier: str
) -> tuple[Agent | None, list[FieldIssue]]:
    """The agent, or None with every failing field (named `agent.…`).

    The authorisation must cover submitting, today; a signed letter must be named as an
    upload (`upload:<id>`; whose it is, the service checks); a recorded consent needs
    the integrator's reference to it. An applicant is not their own agent.
    """
    issues: list[FieldIssue] = []
    name = draft.name.strip()
    if not name:
        issues.append(_issue("name", "empty", "The agent's name is empty.", "代办人姓名不能为空."))

    identifier = draft.identifier
    try:
        identifier = parse_resident_id(draft.identifier, today=today).number
    except InvalidValue as exc:
        issues.append(exc.at(f"{FIELD}.identifier"))
    else:
        if identifier == applicant_identifier.strip().upper():
            issues.append(
                _issue(
                    "identifier",
                    "same_as_applicant",
                    "The agent is the applicant; submit without an agent.",
                    "代办人与申请人为同一人, 请直接以申请人身份提交.",
                )
            )

    mobile = draft.mobile
    try:
        mobile = parse_mobile(draft.mobile)
    except InvalidValue as exc:
        issues.append(exc.at(f"{FIELD}.mobile"))

    relation: Relation | None = None
    try:
        relation = Relation(draft.relation)
    except ValueError:
        known = ", ".join(str(r) for r in Relation)
        issues.append(
            _issue(
                "relation",
                "unknown_relation",
                f"The relation is one of: {known}.",
                f"代办关系应为以下之一: {known}.",
            )
        )

    scope, scope_issues = _scope(draft.scope)
    issues.extend(scope_issues)
    issues.extend(_validity(draft.valid_from, draft.valid_until, today))

    given_by: GivenBy | None = None
    try:
        given_by = GivenBy(draft.given_by)
    except ValueError:
        issues.append(
            _issue(
                "authorisation.given_by",
                "unknown_form",
                "How the authorisation was given: signed_letter or recorded_consent.",
                "授权方式应为 signed_letter (授权委托书) 或 recorded_consent (已记录的授权).",
            )
        )
    letter = draft.letter_reference.strip()
    consent = draft.consent_reference.strip()
    if given_by is GivenBy.SIGNED_LETTER and not letter.startswith("upload:"):
        issues.append(
            _issue(
                "authorisation.letter_reference",
                "letter_required",
                "A signed letter is named by its upload: `upload:<id>` from POST /v1/materials.",
                "授权委托书须先上传, 并以 `upload:<id>` 引用.",
            )
        )
    if given_by is GivenBy.RECORDED_CONSENT and not consent:
        issues.append(
            _issue(
                "authorisation.consent_reference",
                "consent_reference_required",
                "A recorded consent needs the integrator's reference to its record.",
                "已记录的授权须提供授权记录编号.",
            )
        )

    if issues:
        return None, issues
    assert relation is not None and given_by is not None
    return (
        Agent(
            name=name,
            identifier=identifier,
            mobile=mobile,
            relation=relation,
            organisation=draft.organisation.strip(),
            authorisation=Authorisation(
                scope=scope,
                valid_from=draft.valid_from,
                valid_until=draft.valid_until,
                given_by=given_by,
                letter_reference=letter if given_by is GivenBy.SIGNED_LETTER else "",
                consent_reference=consent if given_by is GivenBy.RECORDED_CONSENT else "",
            ),
        ),
        [],
    )


def _scope(names: tuple[str, ...]) -> tuple[tuple[Act, ...], list[FieldIssue]]:
    issues: list[FieldIssue] = []
    acts: list[Act] = []
    known = ", ".join(str(a) for a in Act)
    for index, name in enumerate(names):
        try:
            acts.append(Act(name))
        except ValueError:
            issues.append(
                _issue(
                    f"authorisation.scope.{index}",
                    "unknown_act",
                    f"Unknown act {name!r}; the acts are: {known}.",
                    f"未知的授权事项 {name!r}, 可选: {known}.",
                )
            )
    if not issues and Act.SUBMIT not in acts:
        issues.append(
            _issue(
                "authorisation.scope",
                "submit_not_authorised",
                "The authorisation does not cover submitting; an agent submits only with"
                " `submit` in its scope.",
                "授权范围不包括提交申请 (submit).",
            )
        )
    return tuple(dict.fromkeys(acts)), issues


def _validity(valid_from: date, valid_until: date, today: date) -> list[FieldIssue]:
    if valid_until < valid_from:
        return [
            _issue(
                "authorisation.valid_until",
                "before_start",
                "The authorisation ends before it starts.",
                "授权截止日期早于起始日期.",
            )
        ]
    issues = []
    if (valid_until - valid_from).days >= MAX_VALIDITY_DAYS:
        issues.append(
            _issue(
                "authorisation.valid_until",
                "too_long",
                f"An authorisation is valid for at most {MAX_VALIDITY_DAYS} days.",
                f"授权有效期不得超过 {MAX_VALIDITY_DAYS} 天.",
            )
        )
    if today < valid_from:
        issues.append(
            _issue(
                "authorisation.valid_from",
                "not_yet_valid",
                f"The authorisation is valid only from {valid_from}; today is {today}.",
                f"授权自 {valid_from} 起生效, 今天为 {today}.",
            )
        )
    if today > valid_until:
        issues.append(
            _issue(
                "authorisation.valid_until",
                "expired",
                f"The authorisation expired after {valid_until}; today is {today}.",
                f"授权已于 {valid_until} 到期, 今天为 {today}.",
            )
        )
    return issues
