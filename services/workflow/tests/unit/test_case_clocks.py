"""The clocks and rules of rectifications (差评整改) and supervision cases (督办件): pure."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar, default_calendar
from onceonly.workflow.case_clocks import (
    DEFAULT_CASE_LEVELS,
    CaseLevel,
    RectificationLimit,
    answered_late,
    case_code,
    case_levels,
    end_of,
    next_level,
    opens_rectification,
    rectification_code,
    rectification_deadlines,
    working_day_of,
    working_deadline,
)
from onceonly.workflow.cases import (
    CaseRefused,
    CaseStatus,
    RectificationStatus,
    RectificationStep,
    check_rectification_step,
    check_response,
)
from onceonly.workflow.shared import ErrorType

CALENDAR = default_calendar()
# Monday 28 September 2026, 10:00 in China: the National Day week (1-7 October) and the
# make-up working Saturday (10 October) lie ahead.
RATED_AT = datetime(2026, 9, 28, 10, tzinfo=CHINA_STANDARD_TIME)


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), CHINA_STANDARD_TIME)


def test_a_rectification_is_due_at_the_end_of_its_15th_working_day() -> None:
    deadlines = rectification_deadlines(CALENDAR, RectificationLimit(), rated_at=RATED_AT)
    # 29, 30 Sep; 8, 9, 10 (make-up Saturday), 12-16, 19-23 Oct: the 15th is 23 October.
    assert deadlines.due_at == end_of(date(2026, 10, 23))
    # Yellow at the end of the 12th (80 %): 20 October.
    assert deadlines.yellow_at == end_of(date(2026, 10, 20))
    assert working_day_of(CALENDAR, RATED_AT, deadlines.due_at) == 15


def test_answered_on_working_day_14_is_on_time_and_on_day_16_late() -> None:
    due = rectification_deadlines(CALENDAR, RectificationLimit(), rated_at=RATED_AT).due_at
    day_14 = at_noon(CALENDAR.add_working_days(RATED_AT.date(), 14).due)
    day_15_last_second = end_of(CALENDAR.add_working_days(RATED_AT.date(), 15).due)
    day_16 = at_noon(CALENDAR.add_working_days(RATED_AT.date(), 16).due)
    assert day_14.date() == date(2026, 10, 22) and day_16.date() == date(2026, 10, 26)
    assert not answered_late(day_14, due)
    assert not answered_late(day_15_last_second, due)
    assert answered_late(day_15_last_second + timedelta(seconds=1), due)
    assert answered_late(day_16, due)
    assert working_day_of(CALENDAR, RATED_AT, day_14) == 14
    assert working_day_of(CALENDAR, RATED_AT, day_16) == 16


def test_the_limit_is_configurable_and_checked() -> None:
    five = rectification_deadlines(CALENDAR, RectificationLimit(days=5), rated_at=RATED_AT)
    assert five.due_at == end_of(date(2026, 10, 10))  # the make-up Saturday counts
    assert five.yellow_at == end_of(date(2026, 10, 9))  # the 4th working day
    one = rectification_deadlines(CALENDAR, RectificationLimit(days=1), rated_at=RATED_AT)
    assert RATED_AT < one.yellow_at < one.due_at == end_of(date(2026, 9, 29))
    with pytest.raises(ValueError, match="days"):
        RectificationLimit(days=0)
    with pytest.raises(ValueError, match="share"):
        RectificationLimit(yellow_share=1.0)


def test_only_dissatisfied_ratings_open_a_rectification() -> None:
    assert [level for level in range(1, 6) if opens_rectification(level)] == [1, 2]


def test_response_deadlines_count_working_days_from_the_next_day() -> None:
    plain = WorkingCalendar(use_library=False, estimate_statutory=False)
    friday_evening = datetime(2026, 12, 4, 20, tzinfo=CHINA_STANDARD_TIME)
    # Three working days after a Friday: Monday, Tuesday, Wednesday.
    assert working_deadline(plain, friday_evening, 3) == end_of(date(2026, 12, 9))


def test_case_levels_climb_from_the_head_to_the_office() -> None:
    assert [level.addressee for level in DEFAULT_CASE_LEVELS] == [
        "department_head",
        "supervision_office",
    ]
    assert next_level(DEFAULT_CASE_LEVELS, 1) == 2
    assert next_level(DEFAULT_CASE_LEVELS, 2) is None  # the last level stays
    assert next_level((CaseLevel("supervision_office", 2),), 1) is None


def test_case_levels_from_settings() -> None:
    levels = case_levels(
        '[{"addressee": "department_head", "response_days": 2},'
        ' {"addressee": "supervision_office", "response_days": 4}]'
    )
    assert levels == (CaseLevel("department_head", 2), CaseLevel("supervision_office", 4))
    assert case_levels([{"addressee": "supervision_office", "response_days": 1}]) == (
        CaseLevel("supervision_office", 1),
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[]", "non-empty"),
        ("{}", "non-empty"),
        ('[{"addressee": "mayor", "response_days": 2}]', "unknown addressee 'mayor'"),
        ('[{"addressee": "department_head", "response_days": 0}]', "response_days"),
        ('[{"addressee": "department_head", "response_days": true}]', "response_days"),
        ('[{"addressee": "department_head"}]', "addressee and response_days"),
        (
            '[{"addressee": "department_head", "response_days": 1},'
            ' {"addressee": "department_head", "response_days": 2}]',
            "twice",
        ),
    ],
)
def test_bad_case_levels_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        case_levels(raw)


def test_codes_are_deterministic() -> None:
    assert case_code("330100-20261205-000001X", "fire", 2) == "DB-330100-20261205-000001X-fire-2"
    assert case_code("330100-20261205-000001X", "", 1) == "DB-330100-20261205-000001X-A-1"
    assert rectification_code("330100-20261205-000001X") == "ZG-330100-20261205-000001X"
    with pytest.raises(ValueError):
        case_code("330100-20261205-000001X", "fire", 0)


def _step(step: str, status: str, *, department: str = "fire", roles=("reviewer",), text="x"):
    return check_rectification_step(
        RectificationStep(step), RectificationStatus(status), "fire", department, roles, text
    )


def test_rectification_steps_go_in_order() -> None:
    assert _step("callback", "open") is RectificationStatus.CALLED_BACK
    assert _step("rectification", "called_back") is RectificationStatus.RECTIFIED
    assert _step("answer", "rectified", roles=("department_head",)) is RectificationStatus.ANSWERED
    assert _step("view", "answered", text="") is RectificationStatus.CLOSED


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"step": "callback", "status": "open", "department": "tax"},
            ErrorType.WRONG_DEPARTMENT,
            "",
        ),
        ({"step": "callback", "status": "open", "roles": ("window",)}, ErrorType.WRONG_ROLE, ""),
        (
            {"step": "callback", "status": "open", "roles": ("supervision",)},
            ErrorType.WRONG_ROLE,
            "",
        ),
        ({"step": "answer", "status": "open"}, ErrorType.TASK_NOT_OPEN, "needs rectified"),
        ({"step": "callback", "status": "called_back"}, ErrorType.TASK_NOT_OPEN, ""),
        ({"step": "view", "status": "closed"}, ErrorType.APPLICATION_CLOSED, ""),
        ({"step": "callback", "status": "open", "text": "  "}, ErrorType.INVALID_DECISION, "note"),
        (
            {"step": "answer", "status": "rectified", "text": ""},
            ErrorType.INVALID_DECISION,
            "answer",
        ),
        (
            {"step": "rectification", "status": "called_back", "text": "x" * 4001},
            ErrorType.INVALID_DECISION,
            "measures",
        ),
        (
            {"step": "view", "status": "answered", "text": "x" * 1001},
            ErrorType.INVALID_DECISION,
            "comment",
        ),
    ],
)
def test_rectification_refusals(kwargs: dict, error: ErrorType, message: str) -> None:
    with pytest.raises(CaseRefused) as refused:
        _step(**kwargs)
    assert refused.value.error is error
    assert message in str(refused.value)


def test_only_the_department_head_responds_to_a_case() -> None:
    check_response(CaseStatus.OPEN, "fire", "fire", ("department_head",), "答复")
    for department, roles, response, error in [
        ("tax", ("department_head",), "x", ErrorType.WRONG_DEPARTMENT),
        ("fire", ("reviewer",), "x", ErrorType.WRONG_ROLE),
        ("fire", ("supervision",), "x", ErrorType.WRONG_ROLE),
        ("fire", ("department_head",), " ", ErrorType.INVALID_DECISION),
        ("fire", ("department_head",), "x" * 4001, ErrorType.INVALID_DECISION),
    ]:
        with pytest.raises(CaseRefused) as refused:
            check_response(CaseStatus.OPEN, "fire", department, roles, response)
        assert refused.value.error is error
    with pytest.raises(CaseRefused) as closed:
        check_response(CaseStatus.CLOSED, "fire", "fire", ("department_head",), "x")
    assert closed.value.error is ErrorType.APPLICATION_CLOSED
