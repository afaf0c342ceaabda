"""`/v1/applications/{code}`: an application's timeline (全程留痕), its verification and
its status, for the staff who may see it (dependencies.visible_code)."""

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter

from onceonly.approval import FINISHED, TASK_FINISHED
from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.tracking.api.dependencies import (
    Calendar,
    Store,
    VisibleCode,
    application_not_found,
)
from onceonly.tracking.api.models import (
    StatusView,
    TimelineEntryView,
    TimelineView,
    VerificationView,
)
from onceonly.tracking.clock_days import task_clock
from onceonly.tracking.errors import ApplicationNotFound
from onceonly.tracking.status import status_json

R = TypeVar("R")

router = APIRouter(prefix="/v1/applications/{code}", responses={401: {}, 403: {}, 404: {}})


@router.get(
    "/timeline",
    response_model=TimelineView,
    summary="Every recorded event of an application, in order (全程留痕)",
)
async def get_timeline(code: VisibleCode, store: Store) -> TimelineView:
    entries = await _recorded(store.timeline, code)
    return TimelineView(
        application_code=code,
        entries=[
            TimelineEntryView.model_validate(entry, from_attributes=True) for entry in entries
        ],
    )


@router.get(
    "/timeline/verification",
    response_model=VerificationView,
    summary="Recompute the timeline's hash chain and report the first broken link",
)
async def verify_timeline(code: VisibleCode, store: Store) -> VerificationView:
    result = await _recorded(store.verify, code)
    return VerificationView(application_code=code, **asdict(result))


@router.get(
    "/status",
    response_model=StatusView,
    summary="Current status of an application and of each department's task",
)
async def get_status(code: VisibleCode, store: Store, calendar: Calendar) -> StatusView:
    body = status_json(await _recorded(store.status, code))
    body["tasks"] = _with_clocks(body, now=datetime.now(UTC), calendar=calendar)
    return StatusView(**body)


async def _recorded(read: Callable[[str], Awaitable[R]], code: str) -> R:
    """`read(code)`; an application with no recorded event is a 404 problem."""
    try:
        return await read(code)
    except ApplicationNotFound:
        raise application_not_found(code) from None


def _with_clocks(
    body: dict[str, Any], *, now: datetime, calendar: WorkingCalendar
) -> dict[str, dict[str, Any]]:
    """Each task with its clock as of now, in its own kind of days (read time: it moves
    daily)."""
    return {
        department: {
            **task,
            **task_clock(
                task,
                now=now,
                calendar=calendar,
                finished=task.get("state") in TASK_FINISHED or body["status"] in FINISHED,
            ),
        }
        for department, task in body["tasks"].items()
    }
