"""A deferred event whose cause another topic's agent records while it is being set
aside: that agent looked for deferred events before this one was stored and found none,
so the agent that set it aside tries it once more (agents.py `release_many`)."""

from __future__ import annotations

import asyncpg
import pytest

from onceonly.platform.deferral_store import postgres_deferrals
from onceonly.platform.testing import unique_prefix
from onceonly.tracking.agents import _handle_batch, create_tracking_app
from onceonly.tracking.batch import Pending
from onceonly.tracking.processing import Inbound, Outcome
from onceonly.tracking.settings import TrackingSettings
from onceonly.tracking.store import TrackingStore

pytestmark = pytest.mark.integration


def inbound(envelope, topic: str, offset: int) -> Inbound:
    return Inbound(
        topic=topic,
        partition=0,
        offset=offset,
        key=envelope.subject.encode(),
        value=envelope.data,
        headers=envelope.headers(),
    )


async def test_a_cause_recorded_while_its_effect_was_set_aside_releases_it(
    pool: asyncpg.Pool, events, database_url: str
) -> None:
    prefix = unique_prefix("race")
    settings = TrackingSettings(
        environment="development", topic_prefix=prefix, database_url=database_url
    )
    tracking = create_tracking_app(settings)
    runtime = tracking.runtime
    runtime.pool = pool
    store = runtime.store = TrackingStore(pool)
    deferrals = postgres_deferrals(pool, f"{prefix}-tracking", settings)
    runtime.recorder.deferrals = deferrals

    code = events.code()
    submitted = events.envelope(events.submitted(code), code)
    accepted = events.envelope(events.accepted(code), code, minutes=1)

    # The submissions' agent commits the submission after this batch found it missing
    # and before its deferral is stored, and so finds nothing to release.
    set_aside = deferrals.defer_many

    async def submission_meanwhile(waiting) -> None:
        pending = Pending(submitted, submitted.message(), f"{prefix}.submissions.v1", 0, 0, None)
        await store.record_batch([pending])
        await set_aside(waiting)

    deferrals.defer_many = submission_meanwhile  # type: ignore[method-assign]

    outcomes = await _handle_batch(
        runtime, tracking.counters, [inbound(accepted, f"{prefix}.approval-events.v1", 0)]
    )

    assert outcomes == [Outcome.DEFERRED]
    assert [e.event_id for e in await store.timeline(code)] == [submitted.id, accepted.id]
    assert not deferrals.has(code.encode())
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM platform.deferred_events WHERE consumer = $1",
            f"{prefix}-tracking",
        )
        == 0
    )
