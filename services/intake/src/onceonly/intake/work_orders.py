"""12345 hotline work orders as intake takes them: what a filed order must hold (a kind,
the department concerned, the caller's contact, optionally the application it concerns),
the caller's personal data sealed to the order's code, and its `WorkOrderFiled` event.

The order's code is `WO{region}-{yyyymmdd}-{sequence}`: its own register, beside the
applications' codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.catalogue import Catalogue
from onceonly.events.v1 import application_pb2, workorder_pb2
from onceonly.intake.errors import FieldIssue, InvalidValue, SubmissionInvalid
from onceonly.intake.identifiers import parse_mobile
from onceonly.platform.pii import PiiSealer, mask_mobile, mask_name

HOTLINE = "hotline"  # the integrator capability that may file work orders
KINDS = {
    "complaint": workorder_pb2.WORK_ORDER_KIND_COMPLAINT,
    "consultation": workorder_pb2.WORK_ORDER_KIND_CONSULTATION,
    "request": workorder_pb2.WORK_ORDER_KIND_REQUEST,
}


def sequence_key(region_code: str) -> str:
    """The key of the orders' daily sequence (apart from the applications' one)."""
    return f"WO{region_code}"


def format_order_code(region_code: str, day: date, sequence: int) -> str:
    return f"WO{region_code}-{day:%Y%m%d}-{sequence:06d}"


@dataclass(frozen=True, slots=True)
class WorkOrderDraft:
    kind: str
    content: str
    caller_name: str
    caller_mobile: str
    department_code: str | None
    application_code: str | None
    hotline_reference: str
    language: str


@dataclass(frozen=True, slots=True)
class ValidWorkOrder:
    kind: str
    content: str
    caller_name: str
    caller_mobile: str
    department_code: str
    application_code: str | None
    hotline_reference: str
    language: str


def _issue(field: str, code: str, en: str, zh: str) -> FieldIssue:
    return FieldIssue(field, code, en, zh)


def validate_work_order(
    draft: WorkOrderDraft, catalogue: Catalogue, *, application_matter: str | None
) -> ValidWorkOrder:
    """The order, or SubmissionInvalid naming every bad field. `application_matter` is
    the matter of the attached application (None when it names none that exists)."""
    issues: list[FieldIssue] = []
    mobile = draft.caller_mobile
    try:
        mobile = parse_mobile(draft.caller_mobile)
    except InvalidValue as exc:
        issues.append(exc.at("caller.mobile"))
    if draft.application_code is not None and application_matter is None:
        issues.append(
            _issue(
                "application_code",
                "unknown_application",
                "No application has this code.",
                "未找到该办件编码.",
            )
        )
    department = draft.department_code
    if department is None and application_matter is not None:
        matter = catalogue.matter(application_matter)
        if matter is not None:
            department = matter.lead_department or matter.department_codes[0]
    if department is None:
        if draft.application_code is None:
            issues.append(
                _issue(
                    "department_code",
                    "required",
                    "Name the department concerned, or the application the order concerns.",
                    "请指定承办部门或关联办件.",
                )
            )
    elif catalogue.department(department) is None:
        issues.append(
            _issue(
                "department_code",
                "unknown_department",
                "Not a department of the catalogue.",
                "目录中无此部门.",
            )
        )
    if issues:
        raise SubmissionInvalid(issues)
    assert department is not None
    return ValidWorkOrder(
        kind=draft.kind,
        content=draft.content,
        caller_name=draft.caller_name,
        caller_mobile=mobile,
        department_code=department,
        application_code=draft.application_code,
        hotline_reference=draft.hotline_reference,
        language=draft.language,
    )


@dataclass(frozen=True, slots=True)
class SealedWorkOrder:
    content: application_pb2.SealedText
    caller_name: application_pb2.SealedText
    caller_mobile: application_pb2.SealedText


def seal_work_order(
    sealer: PiiSealer, order: ValidWorkOrder, *, order_code: str
) -> SealedWorkOrder:
    """Each personal value sealed under the order's code (a sealed value copied to another
    order does not open there), with its mask. What the caller said may name anyone, so
    its mask shows only its length."""
    shown = f"[{len(order.content)} 字]"
    return SealedWorkOrder(
        content=sealer.sealed_text(order.content, shown, context=f"{order_code}:content"),
        caller_name=sealer.sealed_text(
            order.caller_name, mask_name(order.caller_name), context=f"{order_code}:name"
        ),
        caller_mobile=sealer.sealed_text(
            order.caller_mobile, mask_mobile(order.caller_mobile), context=f"{order_code}:mobile"
        ),
    )


def work_order_filed(
    order: ValidWorkOrder,
    sealed: SealedWorkOrder,
    *,
    order_code: str,
    region_code: str,
    integrator_id: str,
    filed_at: datetime,
) -> workorder_pb2.WorkOrderFiled:
    stamp = Timestamp()
    stamp.FromDatetime(filed_at)
    return workorder_pb2.WorkOrderFiled(
        application_code=order.application_code or order_code,
        order_code=order_code,
        kind=KINDS[order.kind],
        attached_application_code=order.application_code or "",
        department_code=order.department_code,
        region_code=region_code,
        integrator_id=integrator_id,
        hotline_reference=order.hotline_reference,
        content=sealed.content,
        caller_name=sealed.caller_name,
        caller_mobile=sealed.caller_mobile,
        language=order.language,
        filed_at=stamp,
    )
