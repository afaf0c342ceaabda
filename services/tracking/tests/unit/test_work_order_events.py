"""Work order events on a timeline: summarised with the caller's data masked only, and
folded without changing where the application they are attached to stands."""

import json
from datetime import UTC, datetime

from onceonly.approval import ApplicationState, ApprovalStatus
from onceonly.events.v1 import application_pb2, supervision_pb2, workorder_pb2
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.tracking.status import apply_event
from onceonly.tracking.summary import summarise

SEALER = PiiSealer(DEVELOPMENT_PII_KEY)
ORDER = "WO330100-20261205-000001"
APPLICATION = "330100-20261201-0000017"


def filed() -> workorder_pb2.WorkOrderFiled:
    return workorder_pb2.WorkOrderFiled(
        application_code=APPLICATION,
        order_code=ORDER,
        kind=workorder_pb2.WORK_ORDER_KIND_COMPLAINT,
        attached_application_code=APPLICATION,
        department_code="public-security",
        content=SEALER.sealed_text("王五说办件超期了", "[8 字]"),
        caller_name=SEALER.sealed_text("王五", "王*"),
        caller_mobile=SEALER.sealed_text("13912345678", "1391234****"),
    )


def test_filed_order_keeps_only_masks() -> None:
    summary = summarise(filed())
    assert summary["caller_mobile"] == "1391234****"
    assert summary["caller_name"] == "王*"
    assert summary["order_code"] == ORDER
    text = json.dumps(summary, ensure_ascii=False)
    assert "13912345678" not in text and "王五" not in text


def test_alert_summary_names_clock_and_level() -> None:
    alert = workorder_pb2.WorkOrderAlert(
        application_code=ORDER,
        order_code=ORDER,
        clock="sign",
        level=supervision_pb2.SUPERVISION_LEVEL_RED,
    )
    summary = summarise(alert)
    assert summary["clock"] == "sign" and summary["level"] == "SUPERVISION_LEVEL_RED"


def test_order_events_do_not_move_the_application() -> None:
    current = ApprovalStatus(
        application_code=APPLICATION,
        matter_code="household-transfer",
        state=ApplicationState.ACCEPTED,
    )
    at = datetime(2026, 12, 5, 9, tzinfo=UTC)
    after = apply_event(current, application_code=APPLICATION, message=filed(), time=at)
    assert after.state == ApplicationState.ACCEPTED
    assert after.matter_code == "household-transfer"
    answered = workorder_pb2.WorkOrderAnswered(
        application_code=APPLICATION,
        order_code=ORDER,
        caller_mobile=application_pb2.SealedText(sealed="x", masked="1391234****"),
    )
    again = apply_event(after, application_code=APPLICATION, message=answered, time=at)
    assert again.state == ApplicationState.ACCEPTED
