"""Fixtures for the catalogue and calendar tests (pure code: no network, no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from onceonly.catalogue.calendar import (
    WorkingCalendar,
    YearNotice,
    default_calendar,
    shipped_notices,
)

# Clearly made up, to see what happens when a year's notice arrives; NOT the State
# Council's 2027 schedule (nobody may write that before it is published).
FICTIONAL_2027 = """\
# FICTIONAL test notice: not an official schedule.
year: 2027
source: FICTIONAL notice for tests only (not the State Council's)
holidays:
  - 2027-01-01..2027-01-03
  - 2027-01-13
makeup_workdays:
  - 2027-01-09
"""


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    """What the services use: chinesecalendar plus the shipped notices."""
    return default_calendar()


@pytest.fixture
def shipped_only() -> WorkingCalendar:
    """Only the notices shipped as data (no library): knows 2026, and nothing after,
    whatever chinesecalendar release is installed."""
    calendar = WorkingCalendar(use_library=False)
    calendar.load_notices(shipped_notices())
    return calendar


@pytest.fixture
def fictional_2027_text() -> str:
    return FICTIONAL_2027


@pytest.fixture
def fictional_2027() -> YearNotice:
    return YearNotice.from_yaml(FICTIONAL_2027, origin="fictional-2027.yaml")


@pytest.fixture
def notice_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "notices"
    folder.mkdir()
    return folder
