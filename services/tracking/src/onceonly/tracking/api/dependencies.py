"""What the tracking API's routes depend on, typed: the signed-in staff, the stores, the
working calendar, and the application code in the path.

`create_app` puts one `TrackingState` on `app.state.tracking`; its lifespan adds the
database pool. Routes reach it only through these dependencies.
"""

from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from fastapi import Depends, Path, Request

from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.platform.auth import (
    OVERSIGHT_ROLES,
    SignedInStaff,
    StaffIdentity,
    StaffTokens,
    in_region,
    may_see_application,
    sees_every_application,
)
from onceonly.platform.elicence_signatures import PublishedKeys
from onceonly.platform.http import Problem
from onceonly.tracking.checkpoint_store import CheckpointStore, TreeCache
from onceonly.tracking.errors import ApplicationNotFound
from onceonly.tracking.figures_store import FiguresStore
from onceonly.tracking.settings import TrackingSettings
from onceonly.tracking.store import TrackingStore

STAFF_ROLES = ("supervision", "operations", "reviewer", "department_head")
SUPERVISION_ROLES = OVERSIGHT_ROLES
# Application codes are assigned by intake; this only keeps nonsense out of queries.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


@dataclass(slots=True)
class TrackingState:
    """What the routes share, built by `create_app`."""

    settings: TrackingSettings
    calendar: WorkingCalendar
    pool: asyncpg.Pool | None = None  # opened by the lifespan unless given
    # What verification trusts to have signed checkpoints (None: not configured), and
    # the latest checkpoint's tree, built once per checkpoint.
    checkpoint_keys: PublishedKeys | None = None
    trees: TreeCache = field(default_factory=TreeCache)


def tracking_state(request: Request) -> TrackingState:
    return request.app.state.tracking


State = Annotated[TrackingState, Depends(tracking_state)]


def _staff_tokens(request: Request) -> StaffTokens:
    return tracking_state(request).settings.staff_tokens()


def SignedIn(*roles: str) -> SignedInStaff:
    # The console signs in with a session cookie (api/session.py) instead of a header.
    return SignedInStaff(*roles, tokens=_staff_tokens, cookie=True)


def database_pool(state: State) -> asyncpg.Pool:
    assert state.pool is not None  # the lifespan opens it before requests are served
    return state.pool


Pool = Annotated[asyncpg.Pool, Depends(database_pool)]


def working_calendar(state: State) -> WorkingCalendar:
    return state.calendar


Calendar = Annotated[WorkingCalendar, Depends(working_calendar)]


def tracking_store(pool: Pool, state: State) -> TrackingStore:
    return TrackingStore(
        pool,
        checkpoints=CheckpointStore(pool, state.trees),
        checkpoint_keys=state.checkpoint_keys,
    )


def figures_store(pool: Pool, calendar: Calendar) -> FiguresStore:
    return FiguresStore(pool, calendar)


Staff = Annotated[StaffIdentity, Depends(SignedIn(*STAFF_ROLES))]
Supervisor = Annotated[StaffIdentity, Depends(SignedIn(*SUPERVISION_ROLES))]
Store = Annotated[TrackingStore, Depends(tracking_store)]
Figures = Annotated[FiguresStore, Depends(figures_store)]

Code = Annotated[str, Path(pattern=CODE_PATTERN)]


def application_not_found(code: str) -> Problem:
    """The one answer for an application that is unknown, or not the caller's to see."""
    return Problem(
        404,
        "Application not found",
        f"No event of application {code} has been recorded. 未找到该办件的记录.",
        type_="https://onceonly.dev/problems/not-found",
    )


async def visible_code(who: Staff, code: Code, store: Store) -> str:
    """The path's application code, for staff who may see that application.

    Supervision and operations see every application; a reviewer or a department head
    only those where their department has or had a task (`may_see_application`). Any
    other answer is the same 404 as for an unknown application: whether an application
    exists is not told, and application codes are sequential."""
    try:
        # 行政区划: staff of a division see what is decided there and under it.
        if who.region and not in_region(who, await store.competent_region(code)):
            raise application_not_found(code)
        if sees_every_application(who):
            return code
        status = await store.status(code)
    except ApplicationNotFound:
        raise application_not_found(code) from None
    # The status keeps every task the application had: removed (减签) and returned ones
    # stay with their last state, so a department that took part keeps reading it.
    if not may_see_application(who, status.tasks):
        raise application_not_found(code)
    return code


VisibleCode = Annotated[str, Depends(visible_code)]
