"""What an applicant may add to an application after submitting it: supplementary
materials, a withdrawal request, one rating. Pure: validation and the events.

Ratings: intake does not follow the approval (it never learns of completion), so it
cannot tell a completed application from one in progress. It records a rating at any
time, once, and publishes RatingGiven; whoever knows the outcome (the workflow, the
supervision reports) counts only ratings of completed applications. An integrator is
expected to offer rating only after the completion notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.catalogue import Matter
from onceonly.events.v1 import application_pb2
from onceonly.intake.errors import FieldIssue, SubmissionInvalid
from onceonly.intake.submission import MaterialReference

RATING_LEVELS = range(1, 6)
RATING_COMMENT_MAX = 500
REASON_MAX = 500


class UpdateKind(StrEnum):
    SUPPLEMENT = "supplement"
    WITHDRAWAL = "withdrawal"
    RATING = "rating"


@dataclass(frozen=True, slots=True)
class Supplement:
    materials: tuple[MaterialReference, ...]


@dataclass(frozen=True, slots=True)
class Withdrawal:
    reason: str


@dataclass(frozen=True, slots=True)
class Rating:
    level: int
    comment: str
    # The step rated (its department) and the matter: a bad rating opens a rectification
    # (差评整改) for that department.
    department_code: str = ""
    matter_code: str = ""


Update = Supplement | Withdrawal | Rating


def kind_of(update: Update) -> UpdateKind:
    if isinstance(update, Supplement):
        return UpdateKind.SUPPLEMENT
    if isinstance(update, Withdrawal):
        return UpdateKind.WITHDRAWAL
    return UpdateKind.RATING


def validate_supplement(materials: Sequence[MaterialReference], matter: Matter) -> Supplement:
    """The supplement, or SubmissionInvalid naming every unknown or empty material."""
    issues: list[FieldIssue] = []
    if not materials:
        issues.append(
            FieldIssue(
                "materials",
                "empty",
                "Name at least one material.",
                "请至少提供一份材料.",
            )
        )
    known = {material.code for material in matter.materials}
    for index, material in enumerate(materials):
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
    if issues:
        raise SubmissionInvalid(issues)
    return Supplement(tuple(materials))


def validate_withdrawal(reason: str) -> Withdrawal:
    reason = reason.strip()
    if not reason:
        raise SubmissionInvalid(
            [FieldIssue("reason", "empty", "Give a reason for the withdrawal.", "请填写撤回理由.")]
        )
    if len(reason) > REASON_MAX:
        raise SubmissionInvalid(
            [
                FieldIssue(
                    "reason",
                    "too_long",
                    f"The reason has at most {REASON_MAX} characters.",
                    f"撤回理由不得超过 {REASON_MAX} 个字符.",
                )
            ]
        )
    return Withdrawal(reason)


def validate_rating(
    level: int, comment: str, *, matter: Matter | None = None, department_code: str | None = None
) -> Rating:
    """The rating; with the application's `matter`, the step rated: the department the
    rater names (one of the matter's), else the matter's lead department, else its only
    one."""
    issues: list[FieldIssue] = []
    if level not in RATING_LEVELS:
        issues.append(
            FieldIssue(
                "level",
                "out_of_range",
                "The level is 1 (very dissatisfied) to 5 (very satisfied).",
                "评价等级应为 1 (非常不满意) 至 5 (非常满意).",
            )
        )
    comment = comment.strip()
    if len(comment) > RATING_COMMENT_MAX:
        issues.append(
            FieldIssue(
                "comment",
                "too_long",
                f"The comment has at most {RATING_COMMENT_MAX} characters.",
                f"评价内容不得超过 {RATING_COMMENT_MAX} 个字符.",
            )
        )
    responsible = ""
    if matter is not None:
        departments = [task.department for task in matter.tasks]
        if department_code is None:
            responsible = matter.lead_department or departments[0]
        elif department_code in departments:
            responsible = department_code
        else:
            issues.append(
                FieldIssue(
                    "department_code",
                    "not_in_matter",
                    "The department is not one of the matter's: " + ", ".join(departments) + ".",
                    "该部门不是本事项的办理部门.",
                )
            )
    if issues:
        raise SubmissionInvalid(issues)
    return Rating(level, comment, responsible, matter.code if matter is not None else "")


def _stamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def update_event(
    update: Update, *, application_code: str, at: datetime, by_agent: bool = False
) -> (
    application_pb2.SupplementProvided
    | application_pb2.WithdrawalRequested
    | application_pb2.RatingGiven
):
    """The applicant-updates event announcing `update`."""
    if isinstance(update, Supplement):
        return application_pb2.SupplementProvided(
            application_code=application_code,
            materials=[
                application_pb2.Material(code=m.code, reference=m.reference)
                for m in update.materials
            ],
            provided_at=_stamp(at),
            by_agent=by_agent,
        )
    if isinstance(update, Withdrawal):
        return application_pb2.WithdrawalRequested(
            application_code=application_code,
            reason=update.reason,
            requested_at=_stamp(at),
            by_agent=by_agent,
        )
    return application_pb2.RatingGiven(
        application_code=application_code,
        level=update.level,
        comment=update.comment,
        rated_at=_stamp(at),
        by_agent=by_agent,
        department_code=update.department_code,
        matter_code=update.matter_code,
    )


def update_details(update: Update) -> dict[str, object]:
    """What the update row keeps (jsonb): the update's own fields."""
    if isinstance(update, Supplement):
        return {"materials": [{"code": m.code, "reference": m.reference} for m in update.materials]}
    if isinstance(update, Withdrawal):
        return {"reason": update.reason}
    details: dict[str, object] = {"level": update.level, "comment": update.comment}
    if update.department_code:
        details["department_code"] = update.department_code
    return details
