"""Supervision figures computed in Postgres equal the pure reference ones."""

from datetime import UTC, datetime

import pytest

from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.envelope import new_envelope
from onceonly.platform.testing import fresh_database, migrated_pool
from onceonly.tracking.figures import reference_figures
from onceonly.tracking.figures_store import FiguresStore
from onceonly.tracking.store import TrackingStore

pytestmark = pytest.mark.integration

START = datetime(2030, 6, 1, tzinfo=UTC)
END = datetime(2030, 7, 1, tzinfo=UTC)


async def record_month(store, month) -> None:
    for offset, entry in enumerate(month.recorded):
        envelope = new_envelope(
            entry.message,
            source="/onceonly/test",
            application_code=entry.application_code,
            time=entry.time,
        )
        assert await store.append(envelope, topic="t", partition=0, offset=offset)


@pytest.mark.parametrize(
    ("start", "end"),
    [(START, END), (datetime(2030, 6, 10, tzinfo=UTC), datetime(2030, 6, 20, tzinfo=UTC))],
)
async def test_sql_figures_equal_the_reference(pool, store, month, start, end) -> None:
    await record_month(store, month)
    figures = FiguresStore(pool)
    for group_by, groups in [
        ("matter", [month.matter]),
        ("department", [month.department_a, month.department_b]),
    ]:
        expected = reference_figures(
            month.recorded, start=start, end=end, group_by=group_by, calendar=default_calendar()
        )
        found = await figures.figures(start=start, end=end, group_by=group_by)
        for group in groups:
            assert found[group].as_json() == expected[group].as_json(), (group_by, group)
    # And the hand-computed headline of the whole month.
    if start == START:
        matter = (await figures.figures(start=start, end=end, group_by="matter"))[month.matter]
        assert (matter.received, matter.completed, matter.on_time, matter.overdue) == (
            30,
            15,
            11,
            4,
        )
        assert (matter.open_red, matter.open_yellow, matter.at_most_once) == (6, 6, 10)
        assert (matter.average_days, matter.p90_days) == (5.4, 12.0)
        # The 4 late ones were extended (on time against the extended limit) and passed
        # their legal limit in June.
        assert (matter.on_time_extended, matter.extended, matter.legal_overruns) == (15, 4, 4)
        # Rectifications and supervision cases (conftest.generate_month).
        assert (matter.rectifications, matter.rectified, matter.rectified_on_time) == (4, 3, 2)
        assert (matter.rectification_rate, matter.open_rectifications) == (0.75, 2)
        assert (matter.cases_opened, matter.cases_closed, matter.cases_closed_late) == (5, 2, 1)
        assert (matter.open_cases, matter.open_cases_escalated) == (3, 2)
        # 12345 work orders (conftest.generate_month), by the department they went to.
        a = (await figures.figures(start=start, end=end, group_by="department"))[month.department_a]
        assert (a.work_orders, a.work_orders_closed, a.open_work_orders) == (6, 1, 6)
        assert (a.work_orders_answered, a.work_orders_answered_late) == (3, 1)
        assert (a.work_orders_signed_late, a.work_orders_reopened) == (1, 1)
        assert (a.callbacks, a.callbacks_satisfied, a.satisfaction_rate) == (2, 1, 0.5)


# 行政区划: where each of the month's applications is decided, in turn (two counties of
# Hangzhou, the city itself, a county of Ningbo, a township of Xihu).
DECIDED_IN = ["330106", "330102", "330100", "330212", "330106001"]


@pytest.mark.parametrize(
    ("scope", "divisions"),
    [
        (None, {"330100", "330200"}),  # the province's cities
        ("330100", {"330100", "330102", "330106"}),  # Hangzhou's counties, and itself
        ("330106", {"330106", "330106001"}),  # Xihu's township, and itself
    ],
)
async def test_sql_figures_by_division_equal_the_reference(
    database_url, month, scope, divisions
) -> None:
    # A database of its own: divisions are shared by every test's applications.
    submissions = [e for e in month.recorded if e.message.DESCRIPTOR.name == "ApplicationSubmitted"]
    for n, entry in enumerate(submissions):
        entry.message.competent_region = DECIDED_IN[n % len(DECIDED_IN)]
    async with (
        fresh_database(database_url) as dsn,
        migrated_pool(dsn, component="tracking", package="onceonly.tracking", max_size=4) as pool,
    ):
        await record_month(TrackingStore(pool), month)
        expected = reference_figures(
            month.recorded,
            start=START,
            end=END,
            group_by="division",
            calendar=default_calendar(),
            scope=scope,
        )
        found = await FiguresStore(pool).figures(
            start=START, end=END, group_by="division", region=scope
        )
    assert set(found) == set(expected) == divisions
    for division in divisions:
        assert found[division].as_json() == expected[division].as_json(), division
    # Every application counts once, under one division.
    if scope is None:
        assert sum(figures.received for figures in found.values()) == len(submissions)
