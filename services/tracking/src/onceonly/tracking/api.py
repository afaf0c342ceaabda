"""The tracking query API: an application's timeline, its verification, its status.

For supervision, operations and department staff (staff tokens); served by
`onceonly-tracking api`. Reads only: the agent process writes.
"""

# No `from __future__ import annotations`: FastAPI must resolve the local `Staff` and
# `Code` aliases in the route signatures at definition time.

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Path
from pydantic import BaseModel

from onceonly.platform.auth import StaffIdentity, staff_dependency
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import Problem, health_router, install_problem_handlers
from onceonly.tracking.errors import ApplicationNotFound
from onceonly.tracking.processing import AGENT_COMPONENT
from onceonly.tracking.settings import TrackingSettings
from onceonly.tracking.status import status_json
from onceonly.tracking.store import TrackingStore

STAFF_ROLES = ("supervision", "operations", "reviewer", "department_head")
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

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        own = pool is None
        current = pool or await create_pool(settings.database_url, max_size=5)
        try:
            await prepare_database(current, component="tracking", package="onceonly.tracking")
            state["pool"] = current
            state["store"] = TrackingStore(current)
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
    staff = staff_dependency(settings.signing_secret.get_secret_value(), roles=STAFF_ROLES)
    Staff = Annotated[StaffIdentity, Depends(staff)]
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
        return StatusView(**status_json(found))

    return app
