"""Supervision cases and rectifications on an application's timeline: summarised by name,
and folded without moving where the application stands."""

from datetime import UTC, datetime

from onceonly.approval import ApplicationState, ApprovalStatus, SupervisionLevel
from onceonly.events.v1 import supervision_pb2
from onceonly.tracking.status import apply_event
from onceonly.tracking.summary import summarise

APPLICATION = "330100-20261201-0000017"
AT = datetime(2026, 12, 5, 9, tzinfo=UTC)


def opened() -> supervision_pb2.SupervisionCaseOpened:
    message = supervision_pb2.SupervisionCaseOpened(
        application_code=APPLICATION,
        case_code=f"DB-{APPLICATION}-fire-1",
        department_code="fire",
        level=1,
        addressee="department_head",
        response_days=3,
    )
    message.response_due_at.FromDatetime(datetime(2026, 12, 10, 15, 59, 59, tzinfo=UTC))
    return message


def test_a_case_on_the_timeline_names_its_addressee_and_clock() -> None:
    summary = summarise(opened())
    assert summary["case_code"] == f"DB-{APPLICATION}-fire-1"
    assert summary["addressee"] == "department_head" and summary["level"] == 1
    assert summary["response_due_at"] == "2026-12-10T15:59:59Z"
    closed = summarise(
        supervision_pb2.SupervisionCaseClosed(
            application_code=APPLICATION, case_code="c", response="已整改", late=True, level=2
        )
    )
    assert (closed["response"], closed["late"], closed["level"]) == ("已整改", True, 2)


def test_case_events_do_not_move_the_application() -> None:
    current = ApprovalStatus(
        application_code=APPLICATION,
        matter_code="construction-joint-approval",
        state=ApplicationState.ACCEPTED,
    )
    for message in (
        opened(),
        supervision_pb2.RectificationOpened(application_code=APPLICATION, case_code="ZG-1"),
        supervision_pb2.RectificationAlert(
            application_code=APPLICATION,
            case_code="ZG-1",
            level=supervision_pb2.SUPERVISION_LEVEL_RED,
        ),
    ):
        after = apply_event(current, application_code=APPLICATION, message=message, time=AT)
        assert after.state == ApplicationState.ACCEPTED
        assert after.supervision_level == current.supervision_level == SupervisionLevel.NONE
        assert after.tasks == current.tasks
