"""The clocks of a 12345 work order: working hours to sign, working days to reply, the
limits per kind and region, and the rules of who may do what when."""

from datetime import UTC, datetime

import pytest

from onceonly.catalogue.calendar import default_calendar
from onceonly.workflow.shared import ErrorType
from onceonly.workflow.work_order_clocks import (
    DEFAULT_LIMITS,
    WorkOrderKind,
    WorkOrderLimits,
    add_working_hours,
    limits_for,
    round_clocks,
    validate_overrides,
)
from onceonly.workflow.work_orders import (
    WorkOrderRefused,
    WorkOrderStatus,
    after_callback,
    check_callback,
    check_reply,
    check_sign,
)

CALENDAR = default_calendar()


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def test_hours_within_one_office_day() -> None:
    assert add_working_hours(CALENDAR, cst("2026-12-01T10:00:00"), 4) == cst("2026-12-01T14:00:00")


def test_hours_carry_over_the_night() -> None:
    # Tuesday 15:00 + 4 h: 2 h on Tuesday, 2 h from Wednesday's opening.
    assert add_working_hours(CALENDAR, cst("2026-12-01T15:00:00"), 4) == cst("2026-12-02T11:00:00")


def test_friday_evening_is_due_on_monday() -> None:
    # Filed Friday 4 Dec 2026 at 20:00: Saturday and Sunday do not count.
    assert add_working_hours(CALENDAR, cst("2026-12-04T20:00:00"), 2) == cst("2026-12-07T11:00:00")


def test_holiday_week_does_not_count() -> None:
    # Filed on 30 September 2026 at 16:00; 1-7 October is the National Day holiday.
    assert add_working_hours(CALENDAR, cst("2026-09-30T16:00:00"), 4) == cst("2026-10-08T12:00:00")


def test_early_morning_starts_at_opening() -> None:
    assert add_working_hours(CALENDAR, cst("2026-12-01T06:00:00"), 1) == cst("2026-12-01T10:00:00")


def test_negative_hours_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_hours(CALENDAR, cst("2026-12-01T06:00:00"), -1)


def test_round_clocks_of_a_complaint() -> None:
    limits = DEFAULT_LIMITS[WorkOrderKind.COMPLAINT]  # 4 h, 5 working days
    clocks = round_clocks(CALENDAR, limits, started_at=cst("2026-12-01T10:00:00"), round=1)
    assert clocks.sign_due_at == cst("2026-12-01T14:00:00")
    assert clocks.sign_yellow_at == cst("2026-12-01T12:00:00")
    # Counting starts the next working day: Wed 2 .. Tue 8 December.
    assert clocks.reply_due_at == cst("2026-12-08T23:59:59")
    # Half of five is two: yellow at the end of Thursday 3 December.
    assert clocks.reply_yellow_at == cst("2026-12-03T23:59:59")
    assert clocks.sign_yellow_at < clocks.sign_due_at < clocks.reply_yellow_at


def test_one_day_limit_warns_halfway() -> None:
    limits = WorkOrderLimits(sign_hours=2, reply_days=1)
    start = cst("2026-12-01T11:59:59")
    clocks = round_clocks(CALENDAR, limits, started_at=start, round=2)
    assert clocks.round == 2
    assert clocks.reply_due_at == cst("2026-12-02T23:59:59")
    assert clocks.reply_yellow_at == cst("2026-12-02T05:59:59")


def test_limits_per_region_and_kind() -> None:
    overrides = validate_overrides(
        {"330100": {"*": {"sign_hours": 1}, "complaint": {"reply_days": 3}}}
    )
    assert limits_for(WorkOrderKind.COMPLAINT, "330100", overrides) == WorkOrderLimits(1, 3)
    assert limits_for(WorkOrderKind.REQUEST, "330100", overrides) == WorkOrderLimits(1, 10)
    assert limits_for(WorkOrderKind.COMPLAINT, "330200", overrides) == WorkOrderLimits(4, 5)


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"330100": {"complaints": {"reply_days": 3}}},
        {"330100": {"complaint": {"reply_hours": 3}}},
        {"330100": {"complaint": {"reply_days": 0}}},
        {"330100": {"complaint": {"yellow_share": 1.5}}},
    ],
)
def test_malformed_overrides_are_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        validate_overrides(raw)


def _refused(call: object) -> ErrorType:
    with pytest.raises(WorkOrderRefused) as caught:
        call()  # type: ignore[operator]
    return caught.value.error


def test_only_the_department_signs_and_only_once() -> None:
    check_sign(WorkOrderStatus.OPEN, "dept-a", "dept-a", ["reviewer"])
    assert (
        _refused(lambda: check_sign(WorkOrderStatus.OPEN, "dept-a", "dept-b", ["reviewer"]))
        is ErrorType.WRONG_DEPARTMENT
    )
    assert (
        _refused(lambda: check_sign(WorkOrderStatus.OPEN, "dept-a", "dept-a", ["window"]))
        is ErrorType.WRONG_ROLE
    )
    assert (
        _refused(lambda: check_sign(WorkOrderStatus.SIGNED, "dept-a", "dept-a", ["reviewer"]))
        is ErrorType.TASK_NOT_OPEN
    )
    assert (
        _refused(lambda: check_sign(WorkOrderStatus.CLOSED, "dept-a", "dept-a", ["reviewer"]))
        is ErrorType.APPLICATION_CLOSED
    )


def test_reply_after_signing_with_a_text() -> None:
    check_reply(WorkOrderStatus.SIGNED, "d", "d", ["department_head"], "done")
    assert (
        _refused(lambda: check_reply(WorkOrderStatus.OPEN, "d", "d", ["reviewer"], "done"))
        is ErrorType.TASK_NOT_OPEN
    )
    assert (
        _refused(lambda: check_reply(WorkOrderStatus.SIGNED, "d", "d", ["reviewer"], "  "))
        is ErrorType.INVALID_DECISION
    )


def test_callback_after_the_answer() -> None:
    check_callback(WorkOrderStatus.ANSWERED, "d", "d", ["reviewer"], "")
    assert (
        _refused(lambda: check_callback(WorkOrderStatus.SIGNED, "d", "d", ["reviewer"], ""))
        is ErrorType.TASK_NOT_OPEN
    )
    assert after_callback(True) is WorkOrderStatus.CLOSED
    assert after_callback(False) is WorkOrderStatus.OPEN
