"""The `run` of test_lead_and_extensions and test_legal_limit: one construction joint
approval across the holiday week (services.workflow.tests.workflows.construction)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from services.workflow.tests.workflows.construction import (
    Run,
    construction_run,
    holiday_week_calendar,
)


@pytest_asyncio.fixture
async def run(time_skipping_env, harness, make_activities) -> AsyncIterator[Run]:
    now = await time_skipping_env.get_current_time()
    calendar = holiday_week_calendar(now.astimezone(CHINA_STANDARD_TIME).date())
    activities = make_activities(harness.producer, calendar)
    async with construction_run(
        time_skipping_env, harness.producer, activities, calendar=calendar
    ) as started:
        yield started
