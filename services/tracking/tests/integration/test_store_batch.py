"""A partition's batch recorded in one transaction (`TrackingStore.record_batch`): the
same timelines, chains, statuses and regions as one append after another."""

import asyncio

import pytest

from onceonly.tracking.batch import Appended, Behind, Pending
from onceonly.tracking.errors import (
    ApplicationNotFound,
    CauseNotRecorded,
    SubmissionNotRecorded,
    UnprocessableEvent,
)
from onceonly.tracking.store import TrackingStore

pytestmark = pytest.mark.integration

TOPIC = "t.approval-events.v1"


def pending(envelope, offset: int) -> Pending:
    return Pending(
        envelope=envelope,
        message=envelope.message(),
        topic=TOPIC,
        partition=0,
        offset=offset,
        key=envelope.subject.encode(),
    )


async def test_a_batch_of_two_applications_is_what_appends_one_by_one_make(
    store, events, pool
) -> None:
    one_by_one, batched, other = events.code(), events.code(), events.code()

    def story(code):
        submitted = events.submitted(code)
        submitted.submitted_region, submitted.competent_region = "330106", "330100"
        return [
            events.envelope(submitted, code),
            events.envelope(events.accepted(code), code, minutes=1),
            events.envelope(events.task_started(code), code, minutes=2),
            events.envelope(events.task_decided(code), code, minutes=3),
            events.envelope(events.completed(code), code, minutes=4),
        ]

    for offset, envelope in enumerate(story(one_by_one)):
        await store.append(envelope, topic=TOPIC, partition=0, offset=offset)
    # The first event of `batched` is already recorded: the batch continues its chain.
    mine, theirs = story(batched), story(other)
    await store.append(mine[0], topic=TOPIC, partition=0, offset=0)
    interleaved = [e for pair in zip(mine[1:], theirs[1:], strict=True) for e in pair]
    results = await store.record_batch(
        [pending(e, n) for n, e in enumerate([theirs[0], *interleaved], start=1)]
    )
    assert all(isinstance(r, Appended) for r in results)

    for code in (batched, other):
        verification = await store.verify(code)
        assert (verification.intact, verification.entries) == (True, 5)
        assert [e.seq for e in await store.timeline(code)] == [1, 2, 3, 4, 5]
        reference = await store.status(one_by_one)
        assert (await store.status(code)).state == reference.state == "completed"
        assert (await store.status(code)).tasks == reference.tasks
        assert await store.competent_region(code) == "330100"
    # What the counters take from a batch is what the timeline's fold gives.
    for result in results:
        assert isinstance(result, Appended)
        entry = result.entry
        folded = await store.transition(
            entry.event_id, topic=TOPIC, partition=0, offset=entry.shown.offset
        )
        assert (result.before, result.after) == folded
    rows = await pool.fetch(
        "SELECT application_code, submitted_at, last_event_at FROM tracking.application_status"
        " WHERE application_code = ANY($1::text[]) ORDER BY application_code",
        [one_by_one, batched],
    )
    assert rows[0]["submitted_at"] == rows[1]["submitted_at"] == events.t0


async def test_a_later_batch_keeps_the_regions_its_submission_set(store, events, pool) -> None:
    code = events.code()
    submitted = events.submitted(code)
    submitted.submitted_region, submitted.competent_region = "330106", "330100"
    await store.record_batch([pending(events.envelope(submitted, code), 0)])
    later = [
        pending(events.envelope(events.accepted(code), code, minutes=1), 1),
        pending(events.envelope(events.task_started(code), code, minutes=2), 2),
    ]
    await store.record_batch(later)
    row = await pool.fetchrow(
        "SELECT status, submitted_region, competent_region FROM tracking.application_status"
        " WHERE application_code = $1",
        code,
    )
    assert dict(row) == {
        "status": (await store.status(code)).state,
        "submitted_region": "330106",
        "competent_region": "330100",
    }


async def test_a_redelivered_batch_changes_nothing(store, events) -> None:
    code = events.code()
    batch = [
        pending(events.envelope(events.submitted(code), code), 0),
        pending(events.envelope(events.accepted(code), code, minutes=1), 1),
    ]
    await store.record_batch(batch)
    before = await store.timeline(code)
    assert await store.record_batch(batch) == [None, None]
    assert await store.timeline(code) == before
    assert (await store.verify(code)).intact


async def test_waiting_and_unprocessable_events_leave_no_trace(store, events, pool) -> None:
    waits, goes = events.code(), events.code()
    cause = events.envelope(events.completed(waits), waits)
    notice = events.envelope(events.notification(waits, cause=cause.id), waits)
    later = events.envelope(events.notification(waits), waits)
    bad = events.envelope(events.task_decided(goes, reason="a\x00b"), goes)
    fine = events.envelope(events.submitted(goes), goes)
    results = await store.record_batch(
        [pending(notice, 0), pending(later, 1), pending(bad, 2), pending(fine, 3)]
    )
    assert isinstance(results[0], CauseNotRecorded)
    assert results[1] is Behind.EARLIER_DEFERRED
    assert isinstance(results[2], UnprocessableEvent)
    assert isinstance(results[3], Appended)
    # The head made while the batch looked is gone, as a single append's rollback drops it.
    with pytest.raises(ApplicationNotFound):
        await store.verify(waits)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM tracking.timeline_heads WHERE application_code = $1", waits
        )
        == 0
    )
    assert [e.event_id for e in await store.timeline(goes)] == [fine.id]


async def test_the_workflow_s_events_wait_for_the_submission_on_both_paths(
    store, events, pool
) -> None:
    code = events.code()
    accepted = events.envelope(events.accepted(code), code, minutes=1)
    started = events.envelope(events.task_started(code), code, minutes=2)
    results = await store.record_batch([pending(accepted, 0), pending(started, 1)])
    assert isinstance(results[0], SubmissionNotRecorded)
    assert results[1] is Behind.EARLIER_DEFERRED
    with pytest.raises(SubmissionNotRecorded):
        await store.append(accepted, topic="t.approval-events.v1", partition=0, offset=0)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM tracking.timeline_heads WHERE application_code = $1", code
        )
        == 0
    )
    # Once the submission is there, both ways record them after it.
    submitted = events.envelope(events.submitted(code), code)
    await store.record_batch([pending(submitted, 0)])
    assert await store.append(accepted, topic="t.approval-events.v1", partition=0, offset=0)
    assert isinstance((await store.record_batch([pending(started, 1)]))[0], Appended)
    assert [e.event_id for e in await store.timeline(code)] == [
        submitted.id,
        accepted.id,
        started.id,
    ]


async def test_overlapping_batches_of_two_agents_interleave_without_deadlock(store, events) -> None:
    codes = [events.code() for _ in range(6)]
    # The submissions first: a workflow's event waits while its timeline is empty, so
    # with both batches racing, which one locked first decided the count (a CI run of
    # 2026-12-07 had the acceptances first: 1 entry).
    submitted = [events.envelope(events.submitted(c), c) for c in codes]
    await store.record_batch([pending(e, n) for n, e in enumerate(submitted)])
    first = [events.envelope(events.accepted(c), c, minutes=1) for c in codes]
    second = [events.envelope(events.task_started(c), c, minutes=2) for c in reversed(codes)]
    await asyncio.wait_for(
        asyncio.gather(
            store.record_batch([pending(e, n) for n, e in enumerate(first, start=6)]),
            store.record_batch([pending(e, n) for n, e in enumerate(second, start=12)]),
        ),
        timeout=30,
    )
    for code in codes:
        verification = await store.verify(code)
        assert (verification.intact, verification.entries) == (True, 3)


def _story(events, code):
    return [
        events.envelope(events.submitted(code), code),
        events.envelope(events.accepted(code), code, minutes=1),
        events.envelope(events.task_started(code), code, minutes=2),
        events.envelope(events.task_decided(code), code, minutes=3),
    ]


async def test_a_batch_folds_on_the_status_the_last_batch_of_its_process_wrote(
    store, events, pool
) -> None:
    code = events.code()
    story = _story(events, code)
    first = await store.record_batch([pending(e, n) for n, e in enumerate(story[:2])])
    # The row dropped (projection deleted, not rebuilt): the next batch does not read it
    # back, it folds on what it wrote, and writes the row again.
    await pool.execute("DELETE FROM tracking.application_status WHERE application_code = $1", code)
    second = await store.record_batch([pending(e, n) for n, e in enumerate(story[2:], start=2)])
    assert isinstance(first[-1], Appended) and isinstance(second[0], Appended)
    assert second[0].before == first[-1].after
    assert second[0].projection_consistent
    for result in second:
        assert isinstance(result, Appended)
        folded = await store.transition(
            result.entry.event_id, topic=TOPIC, partition=0, offset=result.entry.shown.offset
        )
        assert (result.before, result.after) == folded
    assert await store.status(code) == second[-1].after


async def test_a_batch_reads_the_row_again_after_another_process_appended(
    store, events, pool
) -> None:
    code = events.code()
    story = _story(events, code)
    other_agent = TrackingStore(pool)
    await store.record_batch([pending(e, n) for n, e in enumerate(story[:2])])
    (theirs,) = await other_agent.record_batch([pending(story[2], 2)])
    (mine,) = await store.record_batch([pending(story[3], 3)])
    # Folded on the row the other agent wrote (its task started), not on this process's
    # own last status.
    assert isinstance(theirs, Appended) and isinstance(mine, Appended)
    assert mine.before == theirs.after
    folded = await store.transition(mine.entry.event_id, topic=TOPIC, partition=0, offset=3)
    assert (mine.before, mine.after) == folded
    assert await store.status(code) == mine.after
