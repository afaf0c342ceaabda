"""The tracking query API: an application's timeline, its verification, its status.

For supervision, operations and department staff (staff tokens); served by
`onceonly-tracking api`. Reads only: the agent process writes.
"""

# No `from __future__ import annotations`: FastAPI must resolve the local `Staff` and
# `Code` aliases in the route signatures at definition time.

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, default_calendar
from onceonly.platform.auth import StaffIdentity, staff_dependency
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import Problem, health_router, install_problem_handlers
from onceonly.platform.metrics import (
    ConsumerGroup,
    ConsumerLagMonitor,
    instrument_api,
    refresh_periodically,
)
from onceonly.tracking.agents import app_id, stream_topics
from onceonly.tracking.clock_days import task_clock
from onceonly.tracking.dashboard import DASHBOARD_HTML
from onceonly.tracking.errors import ApplicationNotFound
from onceonly.tracking.figures_store import FiguresStore, open_alerts
from onceonly.tracking.metrics import refresh_open_tasks
from onceonly.tracking.processing import AGENT_COMPONENT
from onceonly.tracking.settings import TrackingSettings
from onceonly.tracking.status import FINISHED, TASK_FINISHED, status_json
from onceonly.tracking.store import TrackingStore

STAFF_ROLES = ("supervision", "operations", "reviewer", "department_head")
SUPERVISION_ROLES = ("supervision", "operations")
# Application codes are assigned by intake; this only keeps nonsense out of queries.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


class TimelineEntryView(BaseModel):
    seq: int
    event_id: str
    type: str
    source: str
    time: datetime
    summary: dict[str, Any]
    hash: str
    prev_hash: str
    recorded_at: datetime


class TimelineView(BaseModel):
    application_code: str
    entries: list[TimelineEntryView]


class VerificationView(BaseModel):
    application_code: str
    intact: bool
    entries: int
    first_broken_seq: int | None
    reason: str | None


class StatusView(BaseModel):
    application_code: str
    matter_code: str | None
    status: str
    tasks: dict[str, dict[str, Any]]
    last_event_at: str | None
    supervision_level: str
    paused: bool
    due_at: str | None
    supervision: dict[str, Any]
    rating: int | None = None


class GroupFiguresView(BaseModel):
    group: str
    received: int
    completed: int
    on_time: int
    overdue: int
    on_time_rate: float | None
    open_yellow: int
    open_red: int
    # Days each completed unit's clock ran, in its own kind of days (working or natural),
    # pauses left out (onceonly.tracking.figures).
    average_days: float | None
    p90_days: float | None
    average_committed_days: float | None
    at_most_once: int
    at_most_once_rate: float | None
    ratings: dict[str, int]


class FiguresView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    group_by: str
    groups: list[GroupFiguresView]


class AlertView(BaseModel):
    application_code: str
    matter_code: str
    department_code: str
    level: str
    escalation: int | None
    seconds_left: int | None
    seconds_left_at_alert: int | None
    due_at: datetime | None
    raised_at: datetime | None


class AlertsView(BaseModel):
    as_of: datetime
    red: list[AlertView]
    yellow: list[AlertView]


def _zoned(value: datetime) -> datetime:
    """A period given without a zone is in China Standard Time, as supervision offices
    count."""
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA_STANDARD_TIME)


def _not_found(code: str) -> Problem:
    return Problem(
        404,
        "Application not found",
        f"No event of application {code} has been recorded. 未找到该办件的记录.",
        type_="https://onceonly.dev/problems/not-found",
    )


def create_app(settings: TrackingSettings, *, pool: asyncpg.Pool | None = None) -> FastAPI:
    """The API; with `pool` given (tests) it uses that pool and leaves it open."""
    state: dict[str, Any] = {}
    calendar = default_calendar(FilePath(settings.calendar_dir) if settings.calendar_dir else None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        own = pool is None
        current = pool or await create_pool(settings.database_url, max_size=5)
        try:
            await prepare_database(current, component="tracking", package="onceonly.tracking")
            state["pool"] = current
            state["store"] = TrackingStore(current)
            state["figures"] = FiguresStore(current, calendar)
            yield
        finally:
            if own:
                await current.close()

    app = FastAPI(
        title="Once-Only tracking API",
        version="1.0.0",
        description="Timelines (全程留痕), their verification and application status.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    lag = ConsumerLagMonitor(
        settings.kafka_bootstrap,
        [ConsumerGroup("tracking", app_id(settings), list(stream_topics(settings).values()))],
    )
    every = settings.metrics_refresh_seconds
    instrument_api(
        app,
        service="tracking",
        background={
            "consumer-lag": lambda: lag.run(every),
            "open-tasks": refresh_periodically(
                "open tasks gauge", lambda: refresh_open_tasks(state["pool"]), every
            ),
        },
    )
    secret = settings.signing_secret.get_secret_value()
    staff = staff_dependency(secret, roles=STAFF_ROLES)
    Staff = Annotated[StaffIdentity, Depends(staff)]
    Supervisor = Annotated[
        StaffIdentity, Depends(staff_dependency(secret, roles=SUPERVISION_ROLES))
    ]
    Code = Annotated[str, Path(pattern=CODE_PATTERN)]

    def store() -> TrackingStore:
        return state["store"]

    async def health_check() -> dict[str, str]:
        current: asyncpg.Pool = state["pool"]
        try:
            await current.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError) as exc:
            return {"postgres": f"{type(exc).__name__}: {exc}"}
        return await stale_components(
            current,
            [AGENT_COMPONENT],
            max_age_seconds=settings.tracking_agent_max_silence_seconds,
        )

    app.include_router(health_router(health_check))

    @app.get(
        "/v1/applications/{code}/timeline",
        response_model=TimelineView,
        summary="Every recorded event of an application, in order (全程留痕)",
        responses={401: {}, 403: {}, 404: {}},
    )
    async def get_timeline(_: Staff, code: Code) -> TimelineView:
        try:
            entries = await store().timeline(code)
        except ApplicationNotFound:
            raise _not_found(code) from None
        return TimelineView(
            application_code=code,
            entries=[
                TimelineEntryView(
                    seq=entry.seq,
                    event_id=entry.event_id,
                    type=entry.type,
                    source=entry.source,
                    time=entry.time,
                    summary=entry.summary,
                    hash=entry.hash,
                    prev_hash=entry.prev_hash,
                    recorded_at=entry.recorded_at,
                )
                for entry in entries
            ],
        )

    @app.get(
        "/v1/applications/{code}/timeline/verification",
        response_model=VerificationView,
        summary="Recompute the timeline's hash chain and report the first broken link",
        responses={401: {}, 403: {}, 404: {}},
    )
    async def verify_timeline(_: Staff, code: Code) -> VerificationView:
        try:
            result = await store().verify(code)
        except ApplicationNotFound:
            raise _not_found(code) from None
        return VerificationView(
            application_code=code,
            intact=result.intact,
            entries=result.entries,
            first_broken_seq=result.first_broken_seq,
            reason=result.reason,
        )

    @app.get(
        "/v1/applications/{code}/status",
        response_model=StatusView,
        summary="Current status of an application and of each department's task",
        responses={401: {}, 403: {}, 404: {}},
    )
    async def get_status(_: Staff, code: Code) -> StatusView:
        try:
            found = await store().status(code)
        except ApplicationNotFound:
            raise _not_found(code) from None
        body = status_json(found)
        now = datetime.now(UTC)
        # Each task's clock as of now, in its own kind of days (read time: it moves daily).
        body["tasks"] = {
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
        return StatusView(**body)

    @app.get(
        "/v1/supervision/figures",
        response_model=FiguresView,
        summary="Supervision figures (电子监察) per department or matter over [from, to)",
        description="Definitions in onceonly.tracking.figures; days are each clock's own"
        " kind (working or natural), its pauses left out. A time without a zone is China"
        " Standard Time. Open alerts are counted as of now.",
        responses={401: {}, 403: {}, 422: {}},
    )
    async def get_figures(
        _: Supervisor,
        start: Annotated[datetime, Query(alias="from")],
        end: Annotated[datetime, Query(alias="to")],
        group_by: Literal["department", "matter"] = "department",
    ) -> FiguresView:
        start, end = _zoned(start), _zoned(end)
        if end <= start:
            raise Problem(
                422,
                "Invalid period",
                "`to` must be after `from`. 结束时间须晚于开始时间.",
                type_="https://onceonly.dev/problems/invalid-period",
            )
        found = await state["figures"].figures(start=start, end=end, group_by=group_by)
        return FiguresView(
            from_=start,
            to=end,
            group_by=group_by,
            groups=[GroupFiguresView(**found[group].as_json()) for group in sorted(found)],
        )

    @app.get(
        "/v1/supervision/alerts",
        response_model=AlertsView,
        summary="Open red and yellow alerts (红黄牌): application, matter, department",
        description="`seconds_left` is counted now from the clock's due time (negative when"
        " overdue); `seconds_left_at_alert` is what the alert said when raised. An empty"
        " department code is the application's own clock.",
        responses={401: {}, 403: {}},
    )
    async def get_alerts(_: Supervisor) -> AlertsView:
        now = datetime.now(UTC)
        views = []
        for row in await open_alerts(state["pool"]):
            due = row["due_at"]
            left = int((due - now).total_seconds()) if due else row["seconds_left_at_alert"]
            views.append(AlertView(**row, seconds_left=left))
        return AlertsView(
            as_of=now,
            red=[view for view in views if view.level == "red"],
            yellow=[view for view in views if view.level == "yellow"],
        )

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        # The page holds no data: its script calls the API with a token the user pastes.
        return HTMLResponse(DASHBOARD_HTML)

    return app
