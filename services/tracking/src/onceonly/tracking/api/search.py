"""`GET /v1/applications`: operations search over tracking's projection (one query,
cursor paging), for supervision and operations staff over every application, and for a
department's staff over the applications their department has or had a task in."""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.catalogue.jurisdictions import default_jurisdictions
from onceonly.platform.auth import in_region, sees_every_application
from onceonly.platform.http import Problem
from onceonly.platform.request_rules import BoundedDatetime
from onceonly.tracking.api.dependencies import Pool, Staff
from onceonly.tracking.api.models import (
    CatalogueNamesView,
    FoundApplicationView,
    FoundTaskView,
    NamedView,
    SearchView,
)
from onceonly.tracking.search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    SearchQuery,
    SearchRefused,
)
from onceonly.tracking.search_store import search

router = APIRouter(responses={401: {}, 403: {}})

Text = Annotated[str | None, Query(max_length=80)]
Instant = Annotated[BoundedDatetime | None, Query()]


@router.get(
    "/v1/applications",
    response_model=SearchView,
    summary="Find applications (办件查询) by code, matter, department, region, status,"
    " supervision level, dates and open supervision cases",
    description="Newest first (by the earliest recorded event), `limit` at a time (at"
    " most 200); `next_cursor` fetches the next page. `region` is a GB/T 2260 division"
    " code and takes what lies under it (a city's code finds its counties'"
    " applications). A time without a zone is China Standard Time; `*_to` is exclusive."
    " A department's staff find only applications their department has or had a task in.",
    responses={422: {}},
)
async def find_applications(
    who: Staff,
    pool: Pool,
    code: Text = None,
    matter: Text = None,
    department: Text = None,
    region: Text = None,
    status: Annotated[list[str] | None, Query(max_length=12)] = None,
    level: Annotated[list[str] | None, Query(max_length=4)] = None,
    submitted_from: Instant = None,
    submitted_to: Instant = None,
    updated_from: Instant = None,
    updated_to: Instant = None,
    open_case: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> SearchView:
    try:
        query = SearchQuery(
            code_prefix=code,
            matter=matter,
            department=department,
            region=region,
            statuses=tuple(status or ()),
            levels=tuple(level or ()),
            submitted_from=_zoned(submitted_from),
            submitted_to=_zoned(submitted_to),
            updated_from=_zoned(updated_from),
            updated_to=_zoned(updated_to),
            open_case=open_case,
            limit=limit,
            cursor=Cursor.decode(cursor) if cursor else None,
            visible_to_department=None if sees_every_application(who) else who.department_code,
            visible_in_region=who.region or None,
        )
    except SearchRefused as refused:
        raise refused_search(refused) from None
    found = await search(pool, query)
    return SearchView(
        items=[_view(row) for row in found.rows],
        limit=limit,
        next_cursor=found.next_cursor.encode() if found.next_cursor else None,
    )


@router.get(
    "/v1/catalogue/names",
    response_model=CatalogueNamesView,
    summary="The names of the catalogue's matters and departments, and of the divisions"
    " within the caller's (zh, en), for the console",
)
async def catalogue_names(who: Staff) -> CatalogueNamesView:
    catalogue = default_catalogue()
    jurisdictions = default_jurisdictions()
    return CatalogueNamesView(
        # 行政区划: what the staff member may filter by (their division and under it).
        divisions={
            d.code: NamedView(
                code=d.code,
                name_zh=jurisdictions.name(d.code, "zh"),
                name_en=jurisdictions.name(d.code, "en"),
            )
            for d in jurisdictions.divisions
            if in_region(who, d.code)
        },
        matters={
            m.code: NamedView(code=m.code, name_zh=m.name_zh, name_en=m.name_en)
            for m in catalogue.matters
        },
        departments={
            d.code: NamedView(code=d.code, name_zh=d.name_zh, name_en=d.name_en)
            for d in catalogue.departments
        },
    )


def refused_search(refused: SearchRefused) -> Problem:
    """The 422 of a search or filter parameter, naming it."""
    return Problem(
        422,
        "Invalid search",
        f"`{refused.field}`: {refused.reason}. 查询条件有误.",
        type_="https://onceonly.dev/problems/invalid-search",
        errors=[{"field": refused.field, "message": refused.reason}],
    )


def _zoned(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=CHINA_STANDARD_TIME)


def _view(row: dict[str, Any]) -> FoundApplicationView:
    catalogue = default_catalogue()
    tasks = row["tasks"]
    tasks = json.loads(tasks) if isinstance(tasks, str) else tasks
    matter = catalogue.matter(row["matter_code"]) if row["matter_code"] else None
    departments = []
    for code, task in sorted(tasks.items()):
        known = catalogue.department(code)
        departments.append(
            FoundTaskView(
                code=code,
                name_zh=known.name_zh if known else code,
                name_en=known.name_en if known else code,
                state=str(task.get("state", "")),
                supervision_level=str(task.get("supervision_level", "none")),
            )
        )
    prefix = row["application_code"][:6]
    region = row.get("competent_region") or (prefix if prefix.isdigit() else None)
    province = default_jurisdictions()
    return FoundApplicationView(
        application_code=row["application_code"],
        region_code=region,
        region=NamedView(
            code=region, name_zh=province.name(region), name_en=province.name(region, "en")
        )
        if region in province
        else None,
        submitted_region=row.get("submitted_region"),
        matter=NamedView(code=matter.code, name_zh=matter.name_zh, name_en=matter.name_en)
        if matter
        else None,
        status=row["status"],
        supervision_level=row["supervision_level"],
        paused=row["paused"],
        due_at=row["due_at"],
        submitted_at=row["submitted_at"],
        last_event_at=row["last_event_at"],
        rating=row["rating"],
        departments=departments,
    )
