"""`/v1/supervision`: the electronic supervision (电子监察) figures and open alerts, for
supervision and operations staff."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Query

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.platform.auth import in_region
from onceonly.platform.http import Problem
from onceonly.platform.request_rules import BoundedDatetime
from onceonly.tracking.alert_pages import AlertPosition, alert_page
from onceonly.tracking.api.dependencies import Figures, Pool, Supervisor
from onceonly.tracking.api.models import (
    AlertsView,
    AlertView,
    FiguresView,
    GroupFiguresView,
    OpenCasesView,
    OpenCaseView,
    OpenRectificationView,
    OpenWorkOrderView,
)
from onceonly.tracking.api.search import refused_search
from onceonly.tracking.figures_store import open_alerts, open_cases
from onceonly.tracking.search import SearchQuery, SearchRefused, region_prefix

router = APIRouter(prefix="/v1/supervision", responses={401: {}, 403: {}})
# The most alerts one answer holds (and what an answer without `limit` holds).
MAX_ALERTS = 1000


@router.get(
    "/figures",
    response_model=FiguresView,
    summary="Supervision figures (电子监察) per department, matter or division over [from, to)",
    description="Definitions in onceonly.tracking.figures; days are each clock's own"
    " kind (working or natural), its pauses left out. A time without a zone is China"
    " Standard Time; both from 1970-01-01T00:00 to 2100-01-01T00:00. Open alerts are counted as"
    " of now.",
    responses={422: {}},
)
async def get_figures(
    who: Supervisor,
    figures: Figures,
    start: Annotated[BoundedDatetime, Query(alias="from")],
    end: Annotated[BoundedDatetime, Query(alias="to")],
    group_by: Annotated[
        Literal["department", "matter", "division"],
        Query(
            description="division: one group per division below `region` (the province's"
            " cities without one; a city's counties, a county's townships), by where each"
            " application is decided"
        ),
    ] = "department",
    region: Annotated[
        str | None,
        Query(
            pattern=r"^[1-9][0-9]{5}(?:[0-9]{3})?$",
            description="行政区划: the applications decided in this division and under it"
            " (a city's figures add up its counties'); staff of a division get theirs",
        ),
    ] = None,
) -> FiguresView:
    if region is not None and not in_region(who, region):
        raise Problem(
            403,
            "Outside your division",
            f"Division {region} is not within yours ({who.region}). 超出本辖区.",
            type_="https://onceonly.dev/problems/outside-division",
        )
    region = region or who.region or None
    start, end = _zoned(start), _zoned(end)
    if end <= start:
        raise Problem(
            422,
            "Invalid period",
            "`to` must be after `from`. 结束时间须晚于开始时间.",
            type_="https://onceonly.dev/problems/invalid-period",
        )
    found = await figures.figures(start=start, end=end, group_by=group_by, region=region)
    return FiguresView(
        from_=start,
        to=end,
        group_by=group_by,
        groups=[GroupFiguresView(**found[group].as_json()) for group in sorted(found)],
    )


@router.get(
    "/alerts",
    response_model=AlertsView,
    summary="Open legal, red and yellow alerts (超法定时限, 红黄牌): application, matter,"
    " department",
    description="`seconds_left` is counted now from the clock's due time (negative when"
    " overdue); `seconds_left_at_alert` is what the alert said when raised. An empty"
    " department code is the application's own clock. `department`, `matter`,"
    " `region` (a GB/T 2260 code and what lies under it) and `level` (repeatable) narrow"
    " the lists. Pages hold at most `limit` alerts, the longest overdue first; follow"
    " `next_cursor` for the next page.",
    responses={422: {}},
)
async def get_alerts(
    who: Supervisor,
    pool: Pool,
    department: Annotated[str | None, Query(max_length=80)] = None,
    matter: Annotated[str | None, Query(max_length=80)] = None,
    region: Annotated[str | None, Query(max_length=80)] = None,
    level: Annotated[list[Literal["yellow", "red", "legal"]] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = MAX_ALERTS,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> AlertsView:
    try:
        # The search's own rules for these filters (each refusal names its parameter).
        SearchQuery(department=department, matter=matter, region=region)
        after = AlertPosition.decode(cursor) if cursor is not None else None
    except SearchRefused as refused:
        raise refused_search(refused) from None
    prefix = region_prefix(region) if region else ""
    now = datetime.now(UTC)
    views = []
    rows = await open_alerts(pool)
    regions = await regions_of(pool, [row["application_code"] for row in rows])
    wanted = [
        row
        for row in rows
        if not (department and row["department_code"] != department)
        and not (matter and row["matter_code"] != matter)
        and not (level and row["level"] not in level)
        and regions.get(row["application_code"], "").startswith(prefix)
        and in_region(who, regions.get(row["application_code"], ""))
    ]
    page, last = alert_page(wanted, after=after, limit=limit)
    for row in page:
        due = row["due_at"]
        left = int((due - now).total_seconds()) if due else row["seconds_left_at_alert"]
        views.append(AlertView(**row, seconds_left=left))
    return AlertsView(
        as_of=now,
        next_cursor=last.encode() if last is not None else None,
        red=[view for view in views if view.level == "red"],
        yellow=[view for view in views if view.level == "yellow"],
        legal=[view for view in views if view.level == "legal"],
    )


@router.get(
    "/cases",
    response_model=OpenCasesView,
    summary="Open supervision cases (督办件), rectifications of bad ratings (差评整改) still"
    " to be answered, and 12345 work orders not closed",
    description="Each with its clock: `seconds_left` to the response (or answer) deadline,"
    " counted now, negative when overdue.",
)
async def get_cases(who: Supervisor, pool: Pool) -> OpenCasesView:
    now = datetime.now(UTC)
    cases, rectifications, orders = await open_cases(pool)
    if who.region:
        # Staff of a division: what concerns applications decided there and under it
        # (a work order attached to no application is the province's).
        regions = await regions_of(
            pool, [row["application_code"] for row in (*cases, *rectifications, *orders)]
        )

        def mine(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [r for r in rows if in_region(who, regions.get(r["application_code"], "-"))]

        cases, rectifications, orders = mine(cases), mine(rectifications), mine(orders)
    return OpenCasesView(
        as_of=now,
        supervision_cases=[
            OpenCaseView(**row, seconds_left=_left(row["response_due_at"], now)) for row in cases
        ],
        rectifications=[
            OpenRectificationView(**row, seconds_left=_left(row["due_at"], now))
            for row in rectifications
        ],
        work_orders=[
            OpenWorkOrderView(**row, seconds_left=_left(row["due_at"], now)) for row in orders
        ],
    )


async def regions_of(pool: asyncpg.Pool, codes: list[str]) -> dict[str, str]:
    """The division that decides each application (before jurisdictions: its code's)."""
    rows = await pool.fetch(
        "SELECT application_code, coalesce(competent_region, left(application_code, 6))"
        " AS region FROM tracking.application_status WHERE application_code = ANY($1::text[])",
        sorted(set(codes)),
    )
    return {row["application_code"]: row["region"] for row in rows}


def _left(due: datetime | None, now: datetime) -> int | None:
    return int((due - now).total_seconds()) if due is not None else None


def _zoned(value: datetime) -> datetime:
    """A period given without a zone is in China Standard Time, as supervision offices
    count."""
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA_STANDARD_TIME)
