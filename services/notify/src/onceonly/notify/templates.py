"""Citizen notification texts: templates as data (templates.yaml), rendering as a pure
function of (event, language, catalogue).

`render` returns None for events the applicant is not told about (a task starting, a
task cancelled), and raises TemplateError for an event it cannot make sense of (an
unspecified outcome): such an event is parked, not silently dropped.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import quote

import yaml
from google.protobuf.message import Message

from onceonly.catalogue import Catalogue
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2, workorder_pb2
from onceonly.notify.errors import TemplateError
from onceonly.platform.events import instant

# Deadlines are promised in Beijing time: a due date is a calendar date there.
# Natural days an applicant has to provide a requested supplement: the workflow's
# default (MatterSnapshot.supplement_days), after which the application is refused.
SUPPLEMENT_DAYS = 20
# Ledger suffix of the second message an ApplicationCompleted sends (one key per message).
RATING_INVITATION = "rating-invitation"
DAY_SECONDS = 86_400

# Every template key, and the placeholders its texts may use.
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    key: frozenset(fields)
    for key, fields in {
        "application_accepted.accepted": {"application_code", "matter", "due_date"},
        "application_accepted.accepted.undated": {"application_code", "matter"},
        "application_accepted.accepted_with_deficiency": {
            "application_code",
            "matter",
            "due_date",
            "materials",
        },
        "application_accepted.accepted_with_deficiency.undated": {
            "application_code",
            "matter",
            "materials",
        },
        "application_accepted.supplement_requested": {
            "application_code",
            "matter",
            "materials",
            "deadline",
        },
        "application_accepted.supplement_requested.undated": {
            "application_code",
            "matter",
            "materials",
        },
        "application_accepted.refused": {"application_code", "matter", "reason"},
        "application_accepted.refused.decision": {
            "application_code",
            "matter",
            "reason",
            "decision_number",
            "legal_basis",
            "appeal_route",
        },
        "task_decided.approved": {"application_code", "department"},
        "task_decided.rejected": {"application_code", "department", "reason"},
        "task_decided.supplement_requested": {
            "application_code",
            "department",
            "reason",
            "deadline",
        },
        "task_decided.supplement_requested.undated": {"application_code", "department", "reason"},
        # The request's list of missing materials (一次性告知), carried by the event.
        "task_decided.supplement_requested.listed": {
            "application_code",
            "department",
            "reason",
            "deadline",
            "materials",
        },
        "task_decided.supplement_requested.listed.undated": {
            "application_code",
            "department",
            "reason",
            "materials",
        },
        "extension_approved": {
            "application_code",
            "department",
            "days",
            "day_kind",
            "reason",
            "due_date",
        },
        "supplement_received": {"application_code", "count"},
        "application_completed": {"application_code", "matter", "elicence_number"},
        "application_completed.no_licence": {"application_code", "matter"},
        "application_rejected": {"application_code", "matter", "department", "reason"},
        "application_withdrawn": {"application_code"},
        "rating_invitation": {"application_code", "matter"},
        "work_order_answered": {"order_code", "department"},
        # To department staff and the supervision office (电子监察).
        "supervision.yellow": {"application_code", "matter", "department", "days_left", "due_date"},
        "supervision.red": {"application_code", "matter", "department", "days_over", "due_date"},
        "supervision.escalation": {
            "application_code",
            "matter",
            "department",
            "days_over",
            "due_date",
            "escalation",
        },
        # Past the legal limit (法定时限): the supervision office above all.
        "supervision.legal": {
            "application_code",
            "matter",
            "department",
            "days_over",
            "due_date",
            "legal_due_date",
        },
        # A special procedure (特别程序) past the catalogue's maximum for its kind.
        "supervision.special_procedure": {
            "application_code",
            "matter",
            "department",
            "procedure",
            "max_days",
            "due_date",
        },
    }.items()
}
# A due date that is an estimate (Clock.provisional) is said so: each dated text has a
# `.provisional` variant with the same placeholders.
TEMPLATE_FIELDS |= {
    f"{key}.provisional": TEMPLATE_FIELDS[key]
    for key in (
        "application_accepted.accepted",
        "application_accepted.accepted_with_deficiency",
        "extension_approved",
        "supervision.yellow",
        "supervision.red",
        "supervision.escalation",
        "supervision.legal",
    )
}

_ACCEPTANCE = {
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED: "accepted",
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY: "accepted_with_deficiency",
    approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED: "supplement_requested",
    approval_pb2.ACCEPTANCE_OUTCOME_REFUSED: "refused",
}
# How to contest a window's refusal when the decision names no other route.
_DEFAULT_APPEAL_ROUTE = {
    "zh": "可自收到本决定之日起60日内申请行政复议，或6个月内提起行政诉讼",
    "en": "apply for administrative reconsideration within 60 days, or sue within 6 months",
}
_DECISION = {
    approval_pb2.DECISION_OUTCOME_APPROVED: "approved",
    approval_pb2.DECISION_OUTCOME_REJECTED: "rejected",
    approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED: "supplement_requested",
}


@dataclass(frozen=True, slots=True)
class LanguagePack:
    code: str
    signature: str
    list_separator: str
    date_format: str
    no_reason: str
    default_department: str
    templates: dict[str, str]
    # The name shown for the application's overall clock in a supervision alert.
    whole_application: str = ""
    # The names of the special procedures' kinds (特别程序); a kind not named shows as is.
    special_procedures: dict[str, str] = field(default_factory=dict)
    # Appended to the acceptance SMS when a progress page is published ({url}: the
    # application's page, see `progress_url`).
    progress_link: str = ""


@dataclass(frozen=True, slots=True)
class TemplateSet:
    default_language: str
    languages: dict[str, LanguagePack]
    # Templates whose messages ignore quiet hours and the rate limit.
    urgent: frozenset[str] = frozenset()

    def pack(self, language: str) -> LanguagePack:
        return self.languages.get(normalise_language(language, self), self.default_pack)

    @property
    def default_pack(self) -> LanguagePack:
        return self.languages[self.default_language]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A citizen message: which template, in which language, and the text to send."""

    template: str
    language: str
    text: str


def _placeholders(text: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise TemplateError(f"malformed template {text!r}: {exc}") from exc


def parse_templates(raw: Any, *, origin: str = "<templates>") -> TemplateSet:
    """Validate template data: every language has every key, with known placeholders."""
    if not isinstance(raw, dict) or not isinstance(raw.get("languages"), dict):
        raise TemplateError(f"{origin}: expected a mapping with `languages`")
    problems: list[str] = []
    languages: dict[str, LanguagePack] = {}
    for code, spec in raw["languages"].items():
        try:
            pack = LanguagePack(
                code=str(code),
                signature=str(spec.get("signature", "")),
                list_separator=str(spec["list_separator"]),
                date_format=str(spec["date_format"]),
                no_reason=str(spec["no_reason"]),
                default_department=str(spec["default_department"]),
                templates={str(k): str(v) for k, v in spec["templates"].items()},
                whole_application=str(spec.get("whole_application", "")),
                special_procedures={
                    str(k): str(v) for k, v in (spec.get("special_procedures") or {}).items()
                },
                progress_link=str(spec.get("progress_link", "")),
            )
        except (AttributeError, KeyError, TypeError) as exc:
            problems.append(f"{code}: missing or malformed {exc}")
            continue
        for key in sorted(TEMPLATE_FIELDS.keys() - pack.templates.keys()):
            problems.append(f"{code}: template {key} is missing")
        for key in sorted(pack.templates.keys() - TEMPLATE_FIELDS.keys()):
            problems.append(f"{code}: template {key} is not a known template")
        for key, text in pack.templates.items():
            unknown = _placeholders(text) - TEMPLATE_FIELDS.get(key, frozenset())
            if key in TEMPLATE_FIELDS and unknown:
                problems.append(f"{code}: template {key} uses unknown {sorted(unknown)}")
        if _placeholders(pack.progress_link) - {"url"}:
            problems.append(f"{code}: progress_link may only use url")
        if _placeholders(pack.date_format) - {"year", "month", "day"}:
            problems.append(f"{code}: date_format may only use year, month, day")
        languages[pack.code] = pack
    default = str(raw.get("default_language", ""))
    if default not in languages:
        problems.append(f"default_language {default!r} is not one of the languages")
    urgent = frozenset(str(key) for key in raw.get("urgent") or ())
    for key in sorted(urgent - TEMPLATE_FIELDS.keys()):
        problems.append(f"urgent: {key} is not a known template")
    if problems:
        raise TemplateError(f"{origin}: " + "; ".join(problems))
    return TemplateSet(default_language=default, languages=languages, urgent=urgent)


@lru_cache(maxsize=1)
def default_templates() -> TemplateSet:
    """The templates shipped with this package."""
    text = resources.files("onceonly.notify").joinpath("templates.yaml").read_text("utf-8")
    return parse_templates(yaml.safe_load(text), origin="onceonly.notify/templates.yaml")


def normalise_language(language: str, templates: TemplateSet) -> str:
    """`en`, `en-GB`, `EN_us` → `en`; empty or unknown → the default (Chinese)."""
    base = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in templates.languages else templates.default_language


def _day(moment: datetime, pack: LanguagePack) -> str:
    local = moment.astimezone(CHINA_STANDARD_TIME)
    return pack.date_format.format(year=local.year, month=local.month, day=local.day)


def _matter_name(catalogue: Catalogue, code: str, pack: LanguagePack) -> str:
    matter = catalogue.matter(code)
    if matter is None:
        return code
    return matter.name_en if pack.code == "en" else matter.name_zh


def _department_name(catalogue: Catalogue, code: str, pack: LanguagePack) -> str:
    if not code:
        return pack.default_department
    department = catalogue.department(code)
    if department is None:
        return code
    return department.name_en if pack.code == "en" else department.name_zh


def _materials(catalogue: Catalogue, matter_code: str, codes: list[str], pack: LanguagePack) -> str:
    """The materials' names; from every matter when the event names none (a department's
    supplement request: material codes are the catalogue's, whichever matter)."""
    matter = catalogue.matter(matter_code)
    of_matter = {m.code: m for m in matter.materials} if matter else {}

    def name(code: str) -> str:
        material = of_matter.get(code) or catalogue.material(code)
        if material is None:
            return code
        return material.name_en if pack.code == "en" else material.name_zh

    return pack.list_separator.join(name(code) for code in codes)


def _day_kind(kind: str, pack: LanguagePack) -> str:
    if pack.code == "en":
        return "days" if kind == "natural" else "working days"
    return "自然日" if kind == "natural" else "工作日"


def _reason(text: str, pack: LanguagePack) -> str:
    # Reasons end the sentence themselves in some templates: no doubled full stop.
    return text.strip().rstrip("。.") or pack.no_reason


def _marked(key: str, clock: approval_pb2.Clock) -> str:
    """A due date past the published holiday calendar is an estimate: its text says so
    rather than promising a date the year's notice may still move."""
    return key + ".provisional" if clock.provisional else key


def _with_deadline(
    key: str,
    values: dict[str, str],
    message: Message,
    occurred_at: datetime | None,
    pack: LanguagePack,
) -> str:
    """A supplement request's deadline as the event carries it; events from before it
    did: counted from the request; `.undated` without either."""
    due = instant(message, "supplement_due_at")
    if due is None and occurred_at is not None:
        due = occurred_at + timedelta(days=SUPPLEMENT_DAYS)
    if due is None:
        return key + ".undated"
    values["deadline"] = _day(due, pack)
    return key


def _choose(
    message: Message, pack: LanguagePack, catalogue: Catalogue, occurred_at: datetime | None
) -> tuple[str, dict[str, str]] | None:
    if isinstance(message, approval_pb2.ApplicationAccepted):
        outcome = _ACCEPTANCE.get(message.outcome)
        if outcome is None:
            raise TemplateError(f"ApplicationAccepted with outcome {message.outcome}")
        key = f"application_accepted.{outcome}"
        values = {
            "application_code": message.application_code,
            "matter": _matter_name(catalogue, message.matter_code, pack),
            "materials": _materials(
                catalogue, message.matter_code, list(message.missing_materials), pack
            ),
            "reason": _reason(message.reason, pack),
        }
        if outcome in ("accepted", "accepted_with_deficiency"):
            due = instant(message.clock, "due_at")  # none while the clock is unset
            if due is not None:
                values["due_date"] = _day(due, pack)
                key = _marked(key, message.clock)
            else:
                key += ".undated"
        elif outcome == "supplement_requested":
            key = _with_deadline(key, values, message, occurred_at, pack)
        elif message.decision_number:  # the window's written refusal (不予受理决定)
            key += ".decision"
            values["decision_number"] = message.decision_number
            values["legal_basis"] = _reason(message.legal_basis, pack)
            route = message.appeal_route.strip().rstrip("。.")
            values["appeal_route"] = route or _DEFAULT_APPEAL_ROUTE.get(
                pack.code, _DEFAULT_APPEAL_ROUTE["zh"]
            )
        return key, values
    if isinstance(message, approval_pb2.TaskDecided):
        outcome = _DECISION.get(message.outcome)
        if outcome is None:
            raise TemplateError(f"TaskDecided with outcome {message.outcome}")
        key = f"task_decided.{outcome}"
        values = {
            "application_code": message.application_code,
            "department": _department_name(catalogue, message.department_code, pack),
            "reason": _reason(message.reason, pack),
            "materials": _materials(catalogue, "", list(message.missing_materials), pack),
        }
        if outcome == "supplement_requested":
            if message.missing_materials:
                key += ".listed"
            key = _with_deadline(key, values, message, occurred_at, pack)
        return key, values
    if isinstance(message, approval_pb2.ExtensionDecided):
        due = instant(message.clock, "due_at")
        if not message.approved or due is None:
            return None  # a refused extension changes nothing the applicant must know
        return _marked("extension_approved", message.clock), {
            "application_code": message.application_code,
            "department": _department_name(catalogue, message.department_code, pack),
            "days": str(message.days),
            "day_kind": _day_kind(message.clock.day_kind, pack),
            "reason": _reason(message.reason, pack),
            "due_date": _day(due, pack),
        }
    if isinstance(message, approval_pb2.ApplicationCompleted):
        key = (
            "application_completed"
            if message.elicence_number
            else "application_completed.no_licence"
        )
        return key, {
            "application_code": message.application_code,
            "matter": _matter_name(catalogue, message.matter_code, pack),
            "elicence_number": message.elicence_number,
        }
    if isinstance(message, approval_pb2.ApplicationRejected):
        return "application_rejected", {
            "application_code": message.application_code,
            "matter": _matter_name(catalogue, message.matter_code, pack),
            "department": _department_name(catalogue, message.department_code, pack),
            "reason": _reason(message.reason, pack),
        }
    if isinstance(message, approval_pb2.ApplicationWithdrawn):
        return "application_withdrawn", {"application_code": message.application_code}
    if isinstance(message, application_pb2.SupplementProvided):
        return "supplement_received", {
            "application_code": message.application_code,
            "count": str(len(message.materials)),
        }
    return None


def render(
    message: Message,
    language: str,
    catalogue: Catalogue,
    *,
    templates: TemplateSet | None = None,
    occurred_at: datetime | None = None,
    progress_base_url: str = "",
) -> Rendered | None:
    """The citizen's text for an event, or None when the event needs no citizen message.
    `occurred_at` (the event's time) dates a supplement request's deadline;
    `progress_base_url` (intake's public address; empty: none) adds the progress page's
    link to the acceptance message."""
    templates = templates or default_templates()
    pack = templates.pack(language)
    chosen = _choose(message, pack, catalogue, occurred_at)
    if chosen is None:
        return None
    rendered = _fill(pack, *chosen)
    if (
        progress_base_url
        and pack.progress_link
        and isinstance(message, approval_pb2.ApplicationAccepted)
    ):
        # The acceptance SMS links the applicant's progress page (the code only: the
        # applicant types the mobile's last four digits there).
        link = pack.progress_link.format(
            url=progress_url(progress_base_url, message.application_code)
        )
        rendered = replace(rendered, text=rendered.text + link)
    return rendered


def progress_url(base_url: str, application_code: str) -> str:
    """The application's mobile progress page, served by intake at /progress/{code}."""
    return f"{base_url.rstrip('/')}/progress/{quote(application_code, safe='')}"


def render_rating_invitation(
    message: approval_pb2.ApplicationCompleted,
    language: str,
    catalogue: Catalogue,
    *,
    templates: TemplateSet | None = None,
) -> Rendered:
    """The invitation to rate the service (好差评) that follows a completion."""
    pack = (templates or default_templates()).pack(language)
    return _fill(
        pack,
        "rating_invitation",
        {
            "application_code": message.application_code,
            "matter": _matter_name(catalogue, message.matter_code, pack),
        },
    )


def render_work_order_answered(
    message: workorder_pb2.WorkOrderAnswered,
    language: str,
    catalogue: Catalogue,
    *,
    templates: TemplateSet | None = None,
) -> Rendered:
    """The caller is told that the department answered the 12345 work order (the answer
    itself comes with the callback, by phone: an SMS carries no case details)."""
    pack = (templates or default_templates()).pack(language)
    return _fill(
        pack,
        "work_order_answered",
        {
            "order_code": message.order_code,
            "department": _department_name(catalogue, message.department_code, pack),
        },
    )


_LEVELS = {
    supervision_pb2.SUPERVISION_LEVEL_YELLOW: "yellow",
    supervision_pb2.SUPERVISION_LEVEL_RED: "red",
    supervision_pb2.SUPERVISION_LEVEL_LEGAL: "legal",
}
SPECIAL_PROCEDURE = "special_procedure"  # the alert kind of a SpecialProcedureOverrun


def alert_kind(alert: supervision_pb2.SupervisionAlert) -> str | None:
    """`yellow`, `red`, `legal` (past the legal limit too) or `escalation` (a reminder
    of red or legal, 督办); None for a level that is not an alert (NONE: a clock back
    within its limit)."""
    if alert.level == supervision_pb2.SUPERVISION_LEVEL_UNSPECIFIED:
        raise TemplateError("SupervisionAlert with an unspecified level")
    kind = _LEVELS.get(alert.level)
    if kind in ("red", "legal") and alert.escalation > 0:
        return "escalation"
    return kind


def render_alert(
    alert: supervision_pb2.SupervisionAlert,
    language: str,
    catalogue: Catalogue,
    *,
    templates: TemplateSet | None = None,
) -> Rendered | None:
    """The text for department staff and the supervision office: the application code,
    the matter, whose clock, and the days left or over. No personal data: staff look the
    application up by its code."""
    kind = alert_kind(alert)
    if kind is None:
        return None
    pack = (templates or default_templates()).pack(language)
    department = (
        _department_name(catalogue, alert.department_code, pack)
        if alert.department_code
        else pack.whole_application or pack.default_department
    )
    due = instant(alert.clock, "due_at")
    legal_due = instant(alert, "legal_due_at")
    key = f"supervision.{kind}"
    values = {
        "application_code": alert.application_code,
        "matter": _matter_name(catalogue, alert.matter_code, pack),
        "department": department,
        # Days as a person counts them: any part of a day left (or over) is a day.
        "days_left": str(max(0, math.ceil(alert.seconds_left / DAY_SECONDS))),
        "days_over": str(max(1, math.ceil(-alert.seconds_left / DAY_SECONDS))),
        "due_date": _day(due, pack) if due is not None else "-",
        "escalation": str(alert.escalation),
        "legal_due_date": _day(legal_due, pack) if legal_due is not None else "-",
    }
    return _fill(pack, _marked(key, alert.clock) if due is not None else key, values)


def render_overrun(
    overrun: supervision_pb2.SpecialProcedureOverrun,
    language: str,
    catalogue: Catalogue,
    *,
    templates: TemplateSet | None = None,
) -> Rendered:
    """The text for department staff and the supervision office when a special
    procedure runs past its maximum length. No personal data, as for alerts."""
    pack = (templates or default_templates()).pack(language)
    due = instant(overrun, "due_at")
    values = {
        "application_code": overrun.application_code,
        "matter": _matter_name(catalogue, overrun.matter_code, pack),
        "department": _department_name(catalogue, overrun.department_code, pack),
        "procedure": pack.special_procedures.get(overrun.kind, overrun.kind),
        "max_days": str(overrun.max_days),
        "due_date": _day(due, pack) if due is not None else "-",
    }
    return _fill(pack, f"supervision.{SPECIAL_PROCEDURE}", values)


def _fill(pack: LanguagePack, key: str, values: dict[str, str]) -> Rendered:
    body = pack.templates[key].format_map(values)
    return Rendered(template=key, language=pack.code, text=pack.signature + body)
