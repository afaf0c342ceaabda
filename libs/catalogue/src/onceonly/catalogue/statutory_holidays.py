"""The public holidays the law fixes (全国年节及纪念日放假办法), for any year.

The State Council's yearly notice decides the make-up working days (调休), the bridge
days given in exchange, and where a holiday that falls on a weekend is made up (补假);
none of that is known before the notice. The holidays themselves are fixed by the law:
New Year's Day, the Spring Festival, Qingming, Labour Day, the Dragon Boat Festival, the
Mid-Autumn Festival and National Day, several of them on lunar dates or a solar term.
This module computes those days, so that a year whose notice is not published yet is
estimated with every holiday the law fixes instead of weekends only.

Versions of the law covered (each from 1 January of its year):
- 2008 (国务院令第513号): Spring Festival 3 days (除夕, 正月初一, 初二), Labour Day 1 day,
  Qingming, Dragon Boat and Mid-Autumn 1 day each;
- 2014 (国务院令第644号): Spring Festival 正月初一 to 初三 (除夕 no longer a holiday);
- 2025 (国务院令第795号): Spring Festival 除夕 and 初一 to 初三 (4 days), Labour Day
  May 1 and 2.
New Year's Day (1 day) and National Day (Oct 1-3) are the same in all three.

Lunar dates come from `lunar-python`; the Qingming solar term from `chinesecalendar`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from functools import cache

import chinese_calendar
from lunar_python import Lunar

_ONE_DAY = timedelta(days=1)
# The years chinesecalendar computes solar terms for (it raises outside them).
_SOLAR_TERM_YEARS = range(1900, 2101)


class StatutoryHoliday(Enum):
    """A holiday the law fixes; the value is its name in the State Council's notices."""

    NEW_YEARS_DAY = "元旦"
    SPRING_FESTIVAL = "春节"
    QINGMING = "清明节"
    LABOUR_DAY = "劳动节"
    DRAGON_BOAT = "端午节"
    MID_AUTUMN = "中秋节"
    NATIONAL_DAY = "国庆节"


@dataclass(frozen=True, slots=True)
class _LawVersion:
    in_force_from: int  # the year from whose 1 January it applies
    spring_festival: tuple[int, ...]  # days relative to 正月初一 (-1 is 除夕)
    labour_days: int  # from May 1
    title: str


# Newest first: the first version in force in a year is the one that applies.
_VERSIONS = (
    _LawVersion(2025, (-1, 0, 1, 2), 2, "全国年节及纪念日放假办法 (国务院令第795号, 2025)"),
    _LawVersion(2014, (0, 1, 2), 1, "全国年节及纪念日放假办法 (国务院令第644号, 2014)"),
    _LawVersion(2008, (-1, 0, 1), 1, "全国年节及纪念日放假办法 (国务院令第513号, 2008)"),
)
FIRST_YEAR = _VERSIONS[-1].in_force_from
LAST_YEAR = _SOLAR_TERM_YEARS[-1]


def law_in_force(year: int) -> str:
    """The title of the version of the law that fixes `year`'s holidays."""
    return _version(year).title


def _version(year: int) -> _LawVersion:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        # Before 2008 Qingming, Dragon Boat and Mid-Autumn were not holidays; after 2100
        # there is no solar-term data. Neither is a year a live deadline can reach.
        raise ValueError(f"statutory holidays are known for {FIRST_YEAR}..{LAST_YEAR}, not {year}")
    return next(version for version in _VERSIONS if version.in_force_from <= year)


def _lunar(year: int, month: int, day: int) -> date:
    """The Gregorian date of a day of `year`'s lunar calendar (never a leap month)."""
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _qingming(year: int) -> date:
    april = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
    return next(day for day, name in april if name == "清明")


@cache
def statutory_holidays(year: int) -> dict[StatutoryHoliday, tuple[date, ...]]:
    """Each holiday the law fixes in `year` and its days, all within `year` (the lunar
    new year and its eve always fall in January or February)."""
    version = _version(year)
    new_year = _lunar(year, 1, 1)
    return {
        StatutoryHoliday.NEW_YEARS_DAY: (date(year, 1, 1),),
        StatutoryHoliday.SPRING_FESTIVAL: tuple(
            new_year + offset * _ONE_DAY for offset in version.spring_festival
        ),
        StatutoryHoliday.QINGMING: (_qingming(year),),
        StatutoryHoliday.LABOUR_DAY: tuple(
            date(year, 5, 1 + n) for n in range(version.labour_days)
        ),
        StatutoryHoliday.DRAGON_BOAT: (_lunar(year, 5, 5),),
        StatutoryHoliday.MID_AUTUMN: (_lunar(year, 8, 15),),
        StatutoryHoliday.NATIONAL_DAY: tuple(date(year, 10, 1 + n) for n in range(3)),
    }


@cache
def statutory_days(year: int) -> frozenset[date]:
    """Every day of `year` that the law makes a holiday (two holidays may share one:
    Mid-Autumn fell on National Day in 2001, 2020 and will in 2031)."""
    return frozenset(day for days in statutory_holidays(year).values() for day in days)
