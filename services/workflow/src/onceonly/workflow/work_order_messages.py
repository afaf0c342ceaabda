"""A work order's events as protobuf messages (topic work-orders): pure mapping of the
workflow's `WorkOrderEvent` dataclass."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2, workorder_pb2
from onceonly.workflow.work_order_shared import WorkOrderClocks, WorkOrderEvent

_LEVELS = {
    "yellow": supervision_pb2.SUPERVISION_LEVEL_YELLOW,
    "red": supervision_pb2.SUPERVISION_LEVEL_RED,
}


def _stamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def _clocks(clocks: WorkOrderClocks | None) -> workorder_pb2.WorkOrderClocks | None:
    if clocks is None:
        return None
    return workorder_pb2.WorkOrderClocks(
        round=clocks.round,
        sign_due_at=_stamp(clocks.sign_due_at),
        sign_yellow_at=_stamp(clocks.sign_yellow_at),
        reply_due_at=_stamp(clocks.reply_due_at),
        reply_yellow_at=_stamp(clocks.reply_yellow_at),
        sign_hours=clocks.sign_hours,
        reply_days=clocks.reply_days,
    )


def to_message(event: WorkOrderEvent) -> Message:
    """The protobuf message of `event`; ValueError for an unknown type."""
    common = {
        "application_code": event.application_code,
        "order_code": event.order_code,
        "department_code": event.department_code,
    }
    actor = approval_pb2.Actor(
        kind=event.actor_kind,
        id=event.actor_id,
        department_code=event.department_code if event.actor_kind == "staff" else "",
    )
    at = _stamp(event.at)
    match event.type:
        case "opened":
            return workorder_pb2.WorkOrderOpened(
                **common, clocks=_clocks(event.clocks), opened_at=at, actor=actor
            )
        case "reopened":
            return workorder_pb2.WorkOrderReopened(
                **common, clocks=_clocks(event.clocks), reopened_at=at, actor=actor
            )
        case "signed":
            return workorder_pb2.WorkOrderSigned(
                **common, round=event.round, late=event.late, signed_at=at, actor=actor
            )
        case "answered":
            return workorder_pb2.WorkOrderAnswered(
                **common,
                round=event.round,
                late=event.late,
                reply=event.reply,
                answered_at=at,
                actor=actor,
                caller_mobile=application_pb2.SealedText(
                    sealed=event.caller_mobile_sealed, masked=event.caller_mobile_masked
                ),
                language=event.language,
            )
        case "called_back":
            return workorder_pb2.WorkOrderCalledBack(
                **common,
                round=event.round,
                satisfied=event.satisfied,
                comment=event.comment,
                called_back_at=at,
                actor=actor,
            )
        case "closed":
            return workorder_pb2.WorkOrderClosed(
                **common, rounds=event.round, closed_at=at, actor=actor
            )
        case "alert":
            return workorder_pb2.WorkOrderAlert(
                **common,
                clock=event.clock,
                level=_LEVELS[event.level],
                round=event.round,
                due_at=_stamp(event.due_at),
                seconds_left=event.seconds_left,
                raised_at=at,
                actor=actor,
            )
    raise ValueError(f"unknown work order event {event.type!r}")
