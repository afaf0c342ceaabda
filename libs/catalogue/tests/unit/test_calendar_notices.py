"""Year notices as data: the format, its checks, loading folders, the shipped files
agreeing with chinesecalendar, and what is known until when."""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import chinese_calendar
import pytest

from onceonly.catalogue.calendar import (
    CalendarError,
    WorkingCalendar,
    YearNotice,
    _main,
    default_calendar,
    library_notice_yaml,
    load_notices_from,
    notice_from_library,
    shipped_notices,
)

LIBRARY_YEARS = range(
    min(day.year for day in chinese_calendar.holidays),
    max(day.year for day in chinese_calendar.holidays) + 1,
)
SHIPPED = resources.files("onceonly.catalogue").joinpath("data", "calendar")


def d(text: str) -> date:
    return date.fromisoformat(text)


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def notice(body: str, origin: str = "2027.yaml") -> YearNotice:
    return YearNotice.from_yaml(body, origin=origin)


# -- the format -------------------------------------------------------------------------


def test_ranges_and_single_days_expand(fictional_2027: YearNotice) -> None:
    assert fictional_2027.year == 2027
    assert fictional_2027.holidays == {
        d("2027-01-01"),
        d("2027-01-02"),
        d("2027-01-03"),
        d("2027-01-13"),
    }
    assert fictional_2027.makeup_workdays == {d("2027-01-09")}
    assert fictional_2027.source.startswith("FICTIONAL")


def test_quoted_dates_and_missing_makeup_days_are_accepted() -> None:
    loaded = notice('year: 2027\nsource: s\nholidays: ["2027-05-03", "2027-10-01..2027-10-02"]\n')
    assert loaded.holidays == {d("2027-05-03"), d("2027-10-01"), d("2027-10-02")}
    assert loaded.makeup_workdays == frozenset()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("year: 2027\nsource: s\nholidays: [2027-01-01\n", "not valid YAML"),
        ("- 2027-01-01\n", "expected a mapping"),
        (
            "year: 2027\nsource: s\nholidays: [2027-01-01]\nmakeup_workday: []\n",
            "unknown keys ['makeup_workday']",
        ),
        ("year: 2027\nholidays: [2027-01-01]\n", "missing 'source'"),
        ("source: s\nholidays: [2027-01-01]\n", "missing 'year'"),
        ("year: 2027\nsource: s\n", "missing 'holidays'"),
        ("year: '2027'\nsource: s\nholidays: [2027-01-01]\n", "year: expected a year"),
        ("year: 2027\nsource: ' '\nholidays: [2027-01-01]\n", "source: name the notice"),
        ("year: 2027\nsource: s\nholidays: []\n", "a year without holidays"),
        ("year: 2027\nsource: s\nholidays: 2027-01-01\n", "holidays: expected a list"),
        ("year: 2027\nsource: s\nholidays: [2028-01-01]\n", "2028-01-01 is not in 2027"),
        ("year: 2027\nsource: s\nholidays: [2026-12-28]\n", "2026-12-28 is not in 2027"),
        (
            "year: 2027\nsource: s\nholidays: ['2027-10-07..2027-10-01']\n",
            "ends before it starts",
        ),
        ("year: 2027\nsource: s\nholidays: ['2027-10-01..2027-13-07']\n", "neither a date"),
        ("year: 2027\nsource: s\nholidays: [Oct 1]\n", "'Oct 1' is neither a date"),
        (
            "year: 2027\nsource: s\nholidays: ['2027-10-01..2027-10-07', 2027-10-07]\n",
            "2027-10-07 is listed twice",
        ),
        (
            "year: 2027\nsource: s\nholidays: ['2027-10-01..2027-10-07']\n"
            "makeup_workdays: [2027-10-02]\n",
            "both a holiday and a make-up",
        ),
        (
            "year: 2027\nsource: s\nholidays: [2027-10-01]\nmakeup_workdays: [2027-10-11]\n",
            "2027-10-11 is a Monday",
        ),
    ],
)
def test_malformed_notices_are_refused_naming_the_file_and_entry(body: str, message: str) -> None:
    with pytest.raises(CalendarError) as caught:
        notice(body, origin="ops/2027.yaml")
    assert str(caught.value).startswith("ops/2027.yaml: ")
    assert message in str(caught.value)


def test_a_notice_may_reach_back_into_the_end_of_the_year_before() -> None:
    # Like the real 2019 notice: Sat 2018-12-29 worked, 2018-12-30..2019-01-01 off.
    reaching = notice(
        "year: 2019\nsource: s\nholidays: ['2018-12-30..2019-01-01']\n"
        "makeup_workdays: [2018-12-29]\n",
        origin="2019.yaml",
    )
    calendar = WorkingCalendar(use_library=False)
    calendar.load_notice(reaching)
    calendar.load_notice(notice("year: 2018\nsource: s\nholidays: [2018-10-01]\n", "2018.yaml"))
    assert calendar.is_working_day(d("2018-12-29"))  # a Saturday, made up by 2019's notice
    assert not calendar.is_working_day(d("2018-12-31"))  # a Monday, off by 2019's notice
    assert calendar.is_working_day(d("2018-12-28"))
    assert calendar.add_working_days(d("2018-12-28"), 1).due == d("2018-12-29")
    assert calendar.add_working_days(d("2018-12-28"), 2).due == d("2019-01-02")


def test_the_format_round_trips_every_year_the_library_knows() -> None:
    # Every real schedule since 2004 passes the checks (make-up days on weekends only,
    # no overlaps, ...) and survives being written and read back.
    for year in LIBRARY_YEARS:
        original = notice_from_library(year)
        again = YearNotice.from_yaml(original.to_yaml(), origin=f"{year}.yaml")
        assert (again.year, again.holidays, again.makeup_workdays) == (
            year,
            original.holidays,
            original.makeup_workdays,
        )


def test_a_calendar_of_notices_alone_agrees_with_the_library_on_every_day() -> None:
    from_files = WorkingCalendar(use_library=False)
    for year in LIBRARY_YEARS:
        from_files.load_notice(YearNotice.from_yaml(notice_from_library(year).to_yaml()))
    for year in LIBRARY_YEARS:
        for day in days_of(year):
            assert from_files.is_working_day(day) == chinese_calendar.is_workday(day), day


# -- the shipped files -------------------------------------------------------------------


def test_the_shipped_folder_holds_the_2026_notice() -> None:
    names = sorted(entry.name for entry in SHIPPED.iterdir())
    assert "README.md" in names and "2026.yaml" in names
    years = [loaded.year for loaded in shipped_notices()]
    assert 2026 in years
    assert sorted(f"{year}.yaml" for year in years) == [n for n in names if n != "README.md"]
    shipped_2026 = next(loaded for loaded in shipped_notices() if loaded.year == 2026)
    assert "2026年部分节假日安排" in shipped_2026.source


def test_every_shipped_notice_agrees_with_the_library_on_every_day() -> None:
    # A shipped file for a year the library knows must say exactly what the library
    # says, day by day (2026.yaml was written from the library; a later release of
    # chinesecalendar that knows 2027 checks a hand-written 2027.yaml the same way).
    compared = 0
    for loaded in shipped_notices():
        if loaded.year not in LIBRARY_YEARS:
            continue
        calendar = WorkingCalendar(use_library=False)
        calendar.load_notice(loaded)
        for day in days_of(loaded.year):
            assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
            compared += 1
    assert compared >= 365


def test_the_2026_file_is_what_the_library_writes() -> None:
    shipped_2026 = next(loaded for loaded in shipped_notices() if loaded.year == 2026)
    written = YearNotice.from_yaml(library_notice_yaml(2026, shipped_2026.source))
    assert written == shipped_2026


def test_the_command_prints_a_year_from_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["2026", "the 2026 notice"]) == 0
    printed = YearNotice.from_yaml(capsys.readouterr().out)
    assert printed.year == 2026 and printed.source == "the 2026 notice"
    assert d("2026-10-10") in printed.makeup_workdays
    assert _main(["twenty"]) == 2
    with pytest.raises(CalendarError, match="no data for 1999"):
        notice_from_library(1999)


# -- loading folders ---------------------------------------------------------------------


def test_load_notices_from_a_folder_ignores_other_files(
    notice_dir: Path, fictional_2027_text: str
) -> None:
    (notice_dir / "2027.yaml").write_text(fictional_2027_text, encoding="utf-8")
    (notice_dir / "2028.yml").write_text(
        "year: 2028\nsource: FICTIONAL\nholidays: [2028-10-02]\n", encoding="utf-8"
    )
    (notice_dir / "README.md").write_text("# not a notice\n", encoding="utf-8")
    (notice_dir / "2029.yaml.bak").write_text("garbage: [", encoding="utf-8")
    loaded = load_notices_from(notice_dir)
    assert [item.year for item in loaded] == [2027, 2028]
    assert load_notices_from(notice_dir / "2027.yaml")[0].year == 2027  # a single file


def test_load_notices_from_refuses_a_misnamed_file(
    notice_dir: Path, fictional_2027_text: str
) -> None:
    (notice_dir / "2028.yaml").write_text(fictional_2027_text, encoding="utf-8")
    with pytest.raises(CalendarError, match=r"2028\.yaml: file is named for 2028 but holds 2027"):
        load_notices_from(notice_dir)


def test_load_notices_from_refuses_a_year_in_two_files(
    notice_dir: Path, fictional_2027_text: str
) -> None:
    (notice_dir / "2027.yaml").write_text(fictional_2027_text, encoding="utf-8")
    (notice_dir / "correction.yaml").write_text(fictional_2027_text, encoding="utf-8")
    with pytest.raises(CalendarError, match=r"correction\.yaml: 2027 is also in .*2027\.yaml"):
        load_notices_from(notice_dir)


def test_load_notices_from_names_the_broken_file(notice_dir: Path) -> None:
    (notice_dir / "2027.yaml").write_text("year: 2027\nsource: s\nholidays: []\n", "utf-8")
    with pytest.raises(CalendarError, match=r"2027\.yaml: holidays: a year without holidays"):
        load_notices_from(notice_dir)
    with pytest.raises(CalendarError, match="no such notice file or directory"):
        load_notices_from(notice_dir / "missing")


def test_operator_notices_extend_and_override(notice_dir: Path, fictional_2027_text: str) -> None:
    (notice_dir / "2027.yaml").write_text(fictional_2027_text, encoding="utf-8")
    # A (fictional) correction of 2026: the file replaces the year's data entirely.
    (notice_dir / "2026.yaml").write_text(
        "year: 2026\nsource: FICTIONAL correction\nholidays: [2026-03-02]\n", "utf-8"
    )
    calendar = default_calendar(extra_notices=notice_dir)
    assert not calendar.is_working_day(d("2026-03-02"))
    assert calendar.is_working_day(d("2026-10-01"))  # no longer a holiday in this file
    assert not calendar.is_working_day(d("2027-01-13"))  # the fictional 2027 holiday
    assert calendar.is_known(d("2027-06-01"))
    assert calendar.notices[2027].source.startswith("FICTIONAL")


# -- what is known -----------------------------------------------------------------------


def test_known_until_the_last_final_day(calendar: WorkingCalendar) -> None:
    last_year = max(max(LIBRARY_YEARS), *(n.year for n in shipped_notices()))
    # The next year's notice may still move Dec 29-31, so those are not final yet.
    assert calendar.known_until() == date(last_year, 12, 28)
    assert calendar.is_known(date(last_year, 12, 28))
    assert not calendar.is_known(date(last_year, 12, 29))
    assert not calendar.is_known(date(last_year + 1, 1, 4))
    assert calendar.is_known(date(2004, 1, 1))


def test_known_until_needs_contiguous_years(
    shipped_only: WorkingCalendar, fictional_2027: YearNotice
) -> None:
    assert shipped_only.known_until() == d("2026-12-28")
    fictional_2028 = notice("year: 2028\nsource: FICTIONAL\nholidays: [2028-10-02]\n")
    shipped_only.load_notice(fictional_2028)
    # 2028 without 2027 bridges nothing: 2027 is still counted provisionally.
    assert shipped_only.known_until() == d("2026-12-28")
    assert shipped_only.is_known(d("2028-06-01"))
    shipped_only.load_notice(fictional_2027)
    assert shipped_only.known_until() == d("2028-12-28")
    assert shipped_only.known_years() == [2026, 2027, 2028]
