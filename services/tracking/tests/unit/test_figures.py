"""The pure reference figures over a generated month, against hand-computed values."""

from datetime import UTC, datetime, timedelta

import pytest

from onceonly.catalogue.calendar import default_calendar
from onceonly.events.v1 import approval_pb2
from onceonly.tracking.figures import (
    Recorded,
    division_below,
    percentile_cont,
    reference_figures,
    within_scope,
)

START = datetime(2030, 6, 1, tzinfo=UTC)
END = datetime(2030, 7, 1, tzinfo=UTC)
CALENDAR = default_calendar()


def test_percentile_cont_interpolates_like_postgres() -> None:
    assert percentile_cont([], 0.9) is None
    assert percentile_cont([7.0], 0.9) == 7.0
    # 10 values 1..10: position 0.9 * 9 = 8.1 → 9 + 0.1 * (10 - 9)
    assert percentile_cont([float(v) for v in range(10, 0, -1)], 0.9) == pytest.approx(9.1)


def test_per_matter(month) -> None:
    found = reference_figures(
        month.recorded, start=START, end=END, group_by="matter", calendar=CALENDAR
    )
    figures = found[month.matter]
    # Completed in June: i % 5 == 0 for i <= 25 (6), == 1 for i <= 17 (4), == 4 for
    # i <= 24 (5); on time 6 + 5, overdue the 4 that took 12 days.
    assert (figures.received, figures.completed) == (30, 15)
    assert (figures.on_time, figures.overdue, figures.on_time_rate) == (11, 4, 0.733)
    assert (figures.open_red, figures.open_yellow) == (6, 6)
    # Natural-day clocks from acceptance (18:00 CST) to completion: 3 days (6 of them),
    # 12 days (4), and 4 days less the supplement's 1 (5): (18 + 48 + 15) / 15.
    assert figures.average_days == 5.4
    # The 15 values sorted; position 0.9 × 14 = 12.6 falls among the 12-day ones.
    assert figures.p90_days == 12.0
    assert figures.average_committed_days == 10
    # The 5 of i % 5 == 4 had a supplement requested.
    assert (figures.at_most_once, figures.at_most_once_rate) == (10, 0.667)
    # Rated 5 by even i, 4 by odd: i = 0, 10, 20, 4, 14, 24 and 5, 15, 25, 9, 19.
    assert figures.ratings == {5: 6, 4: 5}
    assert figures.as_json()["ratings"] == {"4": 5, "5": 6}
    # The 4 late ones had 10 days of extension on a task: within committed 10 + 10.
    assert (figures.on_time_extended, figures.overdue_extended) == (15, 0)
    assert figures.on_time_rate_extended == 1.0
    assert (figures.extended, figures.extension_rate) == (4, 0.267)
    # Their application clocks passed the legal limit on day 11: i = 1, 6, 11, 16 in June
    # (i = 21's on 3 July); none is open at the legal level (all completed).
    assert (figures.legal_overruns, figures.open_legal) == (4, 0)
    # Rectifications opened in June: i = 1, 6, 11, 16 (day 12); answered i = 1, 11 on time
    # and 6 late; unanswered now: i = 16 and 26 (opened in July).
    assert (figures.rectifications, figures.rectified, figures.rectified_on_time) == (4, 3, 2)
    assert (figures.rectification_rate, figures.rectification_on_time_rate) == (0.75, 0.667)
    assert figures.open_rectifications == 2
    # Supervision cases opened in June: i = 2, 7, 12, 17, 22 (day 6; i = 27's on 4 July);
    # closed in June: i = 12 (late, 21 June) and 7 (20 June; i = 22's on 3 July); open now:
    # i = 2, 17, 27, the last two at the supervision office.
    assert (figures.cases_opened, figures.cases_closed, figures.cases_closed_late) == (5, 2, 1)
    assert (figures.open_cases, figures.open_cases_escalated) == (3, 2)


def test_per_department(month) -> None:
    found = reference_figures(
        month.recorded, start=START, end=END, group_by="department", calendar=CALENDAR
    )
    a, b = found[month.department_a], found[month.department_b]
    assert (a.received, a.completed, a.on_time, a.overdue) == (30, 15, 11, 4)
    assert (a.open_red, a.open_yellow, a.at_most_once) == (6, 6, 10)
    # Tasks started 19:00 CST: 3 days (6), 12 days (4), 4 days less a 1-day pause (5).
    assert (a.average_days, a.p90_days) == (5.4, 12.0)
    # A's 4 late tasks were extended by 10: on time against 5 + 10, and legal on day 11.
    assert (a.on_time_extended, a.overdue_extended, a.extended, a.extension_rate) == (
        15,
        0,
        4,
        0.267,
    )
    assert (a.legal_overruns, a.open_legal) == (4, 0)
    # The rectifications and supervision cases are all A's (see test_per_matter).
    assert (a.rectifications, a.rectified_on_time, a.open_rectifications) == (4, 2, 2)
    assert (a.cases_opened, a.cases_closed_late, a.open_cases_escalated) == (5, 1, 2)
    # B (even i): decided in June for i = 0, 10, 20 (3 d), 6, 16 (12 d, late),
    # 8, 18, 28 (1 d) and 4, 14, 24 (1 d); no alert, no supplement.
    assert (b.received, b.completed, b.on_time, b.overdue) == (15, 11, 9, 2)
    assert (b.open_red, b.open_yellow, b.at_most_once) == (0, 0, 11)
    # 3 × 3 days, 2 × 12 and 6 × 1: 39 / 11; position 0.9 × 10 = 9 is the first 12.
    assert (b.average_days, b.p90_days) == (3.545, 12.0)
    # Nothing extended in B: the extended figures are the committed ones.
    assert (b.on_time_extended, b.overdue_extended, b.on_time_rate_extended) == (9, 2, 0.818)
    assert (b.extended, b.extension_rate, b.legal_overruns) == (0, 0.0, 0)
    assert b.ratings == {5: 6}
    assert (b.rectifications, b.open_rectifications, b.cases_opened, b.open_cases) == (0, 0, 0, 0)
    assert b.rectification_rate is None and b.rectification_on_time_rate is None
    assert set(found) >= {month.department_a, month.department_b}


def test_a_period_with_nothing_has_no_groups(month) -> None:
    empty = datetime(2020, 1, 1, tzinfo=UTC)
    found = reference_figures(
        month.recorded, start=empty, end=START, group_by="matter", calendar=CALENDAR
    )
    # Only the still-open alerts remain: they are open now, whatever the period.
    assert (found[month.matter].received, found[month.matter].open_red) == (0, 6)


def test_working_day_clocks_count_working_days(events) -> None:
    """A 5-working-day task over the 2026 National Day holiday: accepted Wednesday 30
    September, decided Monday 12 October; 12 natural days but 4 working days (8, 9, the
    make-up Saturday 10 and 12 October), so on time."""
    code, matter, department = events.code(), "m-working", "dep-working"
    clock = approval_pb2.Clock(committed_days=5, day_kind="working")
    accepted_at = datetime(2026, 9, 30, 2, tzinfo=UTC)  # 10:00 CST
    decided_at = datetime(2026, 10, 12, 8, tzinfo=UTC)  # 16:00 CST
    recorded = [
        Recorded(code, events.submitted(code, matter), accepted_at - timedelta(hours=1)),
        Recorded(
            code,
            approval_pb2.ApplicationAccepted(
                application_code=code, matter_code=matter, outcome=1, clock=clock
            ),
            accepted_at,
        ),
        Recorded(
            code,
            approval_pb2.TaskStarted(
                application_code=code, department_code=department, clock=clock
            ),
            accepted_at,
        ),
        Recorded(code, events.task_decided(code, department), decided_at),
        Recorded(code, events.completed(code, matter), decided_at + timedelta(hours=1)),
    ]
    period = {"start": datetime(2026, 9, 1, tzinfo=UTC), "end": datetime(2026, 11, 1, tzinfo=UTC)}
    by_matter = reference_figures(recorded, group_by="matter", calendar=CALENDAR, **period)
    by_department = reference_figures(recorded, group_by="department", calendar=CALENDAR, **period)
    for figures in (by_matter[matter], by_department[department]):
        assert (figures.completed, figures.on_time, figures.overdue) == (1, 1, 0)
        assert figures.average_days == 4


@pytest.mark.parametrize(
    ("decided_in", "scope", "division"),
    [
        ("330106", None, "330100"),  # the province's cities
        ("330106001", "330000", "330100"),
        ("330000", None, "330000"),  # a matter of the province itself
        ("330106", "330100", "330106"),  # a city's counties
        ("330106001", "330100", "330106"),
        ("330100", "330100", "330100"),  # decided by the city itself
        ("330106001", "330106", "330106001"),  # a county's townships
        ("330106", "330106", "330106"),
    ],
)
def test_the_division_below_a_scope(decided_in, scope, division) -> None:
    assert division_below(decided_in, scope) == division
    assert within_scope(decided_in, scope)
    assert not within_scope("110101", scope or "330000")  # Beijing
