"""A batch of one partition's events, planned in memory (batch.py), and recorded by the
recorder's batch path (`process_many`) with the outcomes one-at-a-time processing gives."""

from collections.abc import Sequence
from dataclasses import replace

from onceonly.platform.deferral import Deferrals, DeferredRecord, MemoryDeferredStore
from onceonly.platform.envelope import Envelope
from onceonly.tracking import chain
from onceonly.tracking.batch import Appended, Behind, Pending, plan
from onceonly.tracking.errors import (
    BatchConflict,
    CauseNotRecorded,
    SubmissionNotRecorded,
    UnprocessableEvent,
)
from onceonly.tracking.processing import Inbound, Outcome, TimelineRecorder
from onceonly.tracking.status import apply_event

TOPIC = "t.approval-events.v1"


def pending(envelope: Envelope, offset: int, key: str | None = None) -> Pending:
    return Pending(
        envelope=envelope,
        message=envelope.message(),
        topic=TOPIC,
        partition=0,
        offset=offset,
        key=(key or envelope.subject).encode(),
    )


def new_heads(*codes: str) -> dict[str, tuple[int, str]]:
    return {code: (0, chain.GENESIS_HASH) for code in codes}


def test_two_applications_chain_and_fold_as_appends_one_by_one_would(events) -> None:
    a, b = events.code(), events.code()
    batch = [
        events.envelope(events.submitted(a), a),
        events.envelope(events.submitted(b), b),
        events.envelope(events.accepted(a), a, minutes=1),
        events.envelope(events.task_started(b), b, minutes=2),
        events.envelope(events.task_started(a), a, minutes=2),
    ]
    found = plan(
        [pending(e, offset) for offset, e in enumerate(batch)],
        heads=new_heads(a, b),
        statuses={a: None, b: None},
        recorded={},
    )
    appended = [r for r in found.results if isinstance(r, Appended)]
    assert len(appended) == 5
    for code in (a, b):
        entries = [r.entry for r in appended if r.entry.application_code == code]
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert chain.verify(entries, head=found.heads[code]) is None
        state = None
        for envelope in (e for e in batch if e.subject == code):
            state = apply_event(
                state, application_code=code, message=envelope.message(), time=envelope.time
            )
        assert found.statuses[code] == state
    # Each step's before is the previous step's after, from the missing status row on.
    steps = [r for r in appended if r.entry.application_code == a]
    assert steps[0].before is None and steps[0].projection_consistent
    assert [s.before for s in steps[1:]] == [s.after for s in steps[:-1]]


def test_a_batch_continues_the_stored_chain_and_status(events) -> None:
    code = events.code()
    first = events.envelope(events.submitted(code), code)
    stored = apply_event(None, application_code=code, message=first.message(), time=first.time)
    nxt = events.envelope(events.accepted(code), code, minutes=1)
    found = plan(
        [pending(nxt, 7)],
        heads={code: (1, "ab" * 32)},
        statuses={code: stored},
        recorded={},
    )
    [result] = found.results
    assert isinstance(result, Appended)
    assert (result.entry.seq, result.entry.prev_hash) == (2, "ab" * 32)
    assert result.before == stored
    # A status row missing under a chain that has entries is no "before".
    found = plan([pending(nxt, 7)], heads={code: (1, "ab" * 32)}, statuses={}, recorded={})
    assert isinstance(found.results[0], Appended)
    assert not found.results[0].projection_consistent


def test_duplicates_recorded_before_or_earlier_in_the_batch_change_nothing(events) -> None:
    code = events.code()
    old = events.envelope(events.submitted(code), code)
    new = events.envelope(events.accepted(code), code)
    found = plan(
        [pending(old, 0), pending(new, 1), pending(new, 2)],
        heads={code: (1, "cd" * 32)},
        statuses={code: None},
        # The id is unique across timelines: recorded under any application.
        recorded={old.id: "ANOTHER-APPLICATION"},
    )
    assert found.results[0] is None
    assert isinstance(found.results[1], Appended)
    assert found.results[2] is None
    assert found.heads[code][0] == 2


def test_an_effect_whose_cause_is_missing_waits_and_holds_back_its_key_only(events) -> None:
    a, b = events.code(), events.code()
    cause = events.envelope(events.completed(a), a)
    notice = events.envelope(events.notification(a, cause=cause.id), a)
    later = events.envelope(events.notification(a), a)  # names no cause
    other = events.envelope(events.submitted(b), b)
    found = plan(
        [pending(notice, 0), pending(later, 1), pending(other, 2)],
        heads=new_heads(a, b),
        statuses={},
        recorded={},
    )
    assert isinstance(found.results[0], CauseNotRecorded)
    assert found.results[0].cause_event_id == cause.id
    assert found.results[1] is Behind.EARLIER_DEFERRED
    assert isinstance(found.results[2], Appended)
    assert a not in found.heads


def test_a_cause_recorded_earlier_in_the_batch_or_on_another_timeline(events) -> None:
    code, stranger = events.code(), events.code()
    submitted = events.envelope(events.submitted(code), code)
    cause = events.envelope(events.completed(code), code)
    notice = events.envelope(events.notification(code, cause=f"{cause.id}#2"), code)
    found = plan(
        [pending(submitted, 0), pending(cause, 1), pending(notice, 2)],
        heads=new_heads(code),
        statuses={},
        recorded={},
    )
    assert all(isinstance(r, Appended) for r in found.results)
    # The cause must be on the effect's own timeline.
    found = plan(
        [pending(notice, 1)], heads=new_heads(code), statuses={}, recorded={cause.id: stranger}
    )
    assert isinstance(found.results[0], CauseNotRecorded)


def test_the_workflow_s_event_on_an_empty_timeline_waits_for_the_submission(events) -> None:
    a, b, c = events.code(), events.code(), events.code()
    accepted = events.envelope(events.accepted(a), a, minutes=1)
    started = events.envelope(events.task_started(a), a, minutes=2)
    submitted_b = events.envelope(events.submitted(b), b)
    accepted_b = events.envelope(events.accepted(b), b, minutes=1)
    notice = events.envelope(events.notification(c), c)  # names no cause: not held
    found = plan(
        [
            pending(e, offset)
            for offset, e in enumerate([accepted, started, submitted_b, accepted_b, notice])
        ],
        heads=new_heads(a, b, c),
        statuses={},
        recorded={},
    )
    assert isinstance(found.results[0], SubmissionNotRecorded)
    assert found.results[0].waiting_for == f"the submission of {a} to be recorded first"
    assert found.results[1] is Behind.EARLIER_DEFERRED
    # A submission earlier in the batch, or any entry stored before, is enough.
    assert [type(r) for r in found.results[2:]] == [Appended, Appended, Appended]
    assert a not in found.heads
    later = plan([pending(accepted, 0)], heads={a: (1, "ab" * 32)}, statuses={a: None}, recorded={})
    assert isinstance(later.results[0], Appended)


def test_released_events_of_other_partitions_are_not_held_back_by_a_waiting_one(
    events,
) -> None:
    # Deferred events released together: an outcome deferred first (its cause missing)
    # and that cause, deferred later from another topic behind its submission.
    code = events.code()
    cause = events.envelope(events.completed(code), code, minutes=5)
    notice = events.envelope(events.notification(code, cause=cause.id), code, minutes=6)
    items = [
        replace(pending(notice, 3), topic="t.notification-outcomes.v1"),
        replace(pending(cause, 9), partition=2),
    ]
    found = plan(items, heads={code: (1, "ab" * 32)}, statuses={code: None}, recorded={})
    assert isinstance(found.results[0], CauseNotRecorded)
    assert isinstance(found.results[1], Appended)


def test_an_unrecordable_event_in_the_middle_is_unprocessable_and_the_rest_goes_on(
    events,
) -> None:
    code = events.code()
    first = events.envelope(events.submitted(code), code)
    bad = events.envelope(events.task_decided(code, reason="bad\x00reason"), code)
    third = events.envelope(events.accepted(code), code)
    found = plan(
        [pending(first, 0), pending(bad, 1), pending(third, 2)],
        heads=new_heads(code),
        statuses={},
        recorded={},
    )
    assert isinstance(found.results[1], UnprocessableEvent)
    assert [r.entry.seq for r in found.results if isinstance(r, Appended)] == [1, 2]


def test_text_that_only_spells_a_nul_escape_is_recorded(events) -> None:
    code = events.code()
    first = events.envelope(events.submitted(code), code)
    spelled = events.envelope(events.task_decided(code, reason="C:\\u0000 is no NUL"), code)
    found = plan(
        [pending(first, 0), pending(spelled, 1)],
        heads=new_heads(code),
        statuses={},
        recorded={},
    )
    appended = found.results[1]
    assert isinstance(appended, Appended)
    assert "\\u0000" in appended.summary_text
    assert appended.summary_text == chain.canonical_summary(appended.summary)


# The recorder's batch path, with the store's batch simulated by `plan` over a dict.


class BatchTimeline:
    """A store whose batches are planned against what it holds; `conflicts` raises
    BatchConflict on the next batches."""

    def __init__(self, conflicts: int = 0) -> None:
        self.entries: dict[str, chain.ChainEntry] = {}
        self.heads: dict[str, tuple[int, str]] = {}
        self.conflicts = conflicts
        self.batches: list[int] = []
        self.single: list[str] = []

    async def append_batch(self, items):
        self.batches.append(len(items))
        if self.conflicts:
            self.conflicts -= 1
            raise BatchConflict("event id recorded under another application")
        codes = {item.envelope.subject for item in items}
        found = plan(
            items,
            heads={c: self.heads.get(c, (0, chain.GENESIS_HASH)) for c in codes},
            statuses={},
            recorded={i: e.application_code for i, e in self.entries.items()},
        )
        for result in found.results:
            if isinstance(result, Appended):
                self.entries[result.entry.event_id] = result.entry
        self.heads.update(found.heads)
        return found.results

    async def append(self, envelope, *, topic, partition, offset, message=None) -> bool:
        self.single.append(envelope.id)
        [result] = await self.append_batch(
            [Pending(envelope, message or envelope.message(), topic, partition, offset, None)]
        )
        if isinstance(result, Exception):
            raise result
        return result is not None


def inbound(envelope: Envelope, offset: int, topic: str = TOPIC) -> Inbound:
    return Inbound(
        topic=topic,
        partition=0,
        offset=offset,
        key=envelope.subject.encode(),
        value=envelope.data,
        headers=envelope.headers(),
    )


def recorder_for(timeline: BatchTimeline) -> tuple[TimelineRecorder, list, MemoryDeferredStore]:
    parked: list[tuple[Inbound, str]] = []

    async def park(record: Inbound, reason: str) -> None:
        parked.append((record, reason))

    recorder = TimelineRecorder(
        append=timeline.append, append_batch=timeline.append_batch, park=park
    )
    store = MemoryDeferredStore()
    recorder.deferrals = Deferrals(store, "tracking-unit")
    return recorder, parked, store


async def test_a_batch_ends_each_message_as_one_at_a_time_would(events) -> None:
    timeline = BatchTimeline()
    recorder, parked, store = recorder_for(timeline)
    a, b = events.code(), events.code()
    cause = events.envelope(events.completed(a), a)
    submitted = events.envelope(events.submitted(b), b)
    notice = events.envelope(events.notification(a, cause=cause.id), a)
    later = events.envelope(events.notification(a), a)
    garbage = Inbound(topic=TOPIC, partition=0, offset=3, key=None, value=b"x", headers=[])
    records = [
        inbound(submitted, 0),
        inbound(notice, 1),
        inbound(submitted, 2),  # redelivered within the batch
        garbage,
        inbound(later, 4),
        inbound(events.envelope(events.accepted(b), b), 5),
    ]
    outcomes = await recorder.process_many(records)
    assert outcomes == [
        Outcome.RECORDED,
        Outcome.DEFERRED,
        Outcome.DUPLICATE,
        Outcome.PARKED,
        Outcome.DEFERRED,
        Outcome.RECORDED,
    ]
    assert timeline.batches == [5]  # the undecodable one never reaches the store
    assert [(r.offset, reason.split(":")[0]) for r, reason in parked] == [(3, "EnvelopeError")]
    waiting = await store.of_key("tracking-unit", a.encode())
    assert [(r.offset, r.waiting_for) for r in waiting] == [
        (1, f"event {cause.id} of {a} to be recorded first"),
        (4, "an earlier deferred event of its partition"),
    ]
    # The next batch of the partition waits behind them too; other keys go on.
    after = events.envelope(events.notification(a), a)
    assert await recorder.process_many([inbound(after, 6)]) == [Outcome.DEFERRED]
    assert recorder.counts == {"recorded": 2, "duplicate": 1, "parked": 1, "deferred": 3}


async def test_a_conflicting_batch_is_recorded_one_message_at_a_time(events) -> None:
    timeline = BatchTimeline(conflicts=1)
    recorder, _, _ = recorder_for(timeline)
    code = events.code()
    batch = [
        events.envelope(events.submitted(code), code),
        events.envelope(events.accepted(code), code),
    ]
    outcomes = await recorder.process_many([inbound(e, n) for n, e in enumerate(batch)])
    assert outcomes == [Outcome.RECORDED, Outcome.RECORDED]
    assert timeline.single == [e.id for e in batch]
    assert [timeline.entries[e.id].seq for e in batch] == [1, 2]


async def test_released_events_recordable_now_are_recorded_together(events) -> None:
    timeline = BatchTimeline()
    recorder, parked, _ = recorder_for(timeline)
    code = events.code()
    cause = events.envelope(events.completed(code), code)
    missing = events.envelope(events.completed(code), code)
    ready = events.envelope(events.notification(code, cause=cause.id), code)
    waiting = events.envelope(events.notification(code, cause=missing.id), code)
    submitted = events.envelope(events.submitted(code), code)
    await recorder.process_many([inbound(submitted, 0, "t.submissions.v1"), inbound(cause, 0)])
    topic = "t.notification-outcomes.v1"
    records = [inbound(ready, 1, topic), inbound(waiting, 2, topic)]
    garbage = replace(records[0], offset=3, headers=[])
    outcomes = await recorder.record_released([*records, garbage])
    # What cannot be recorded now is left, untouched, to the one-at-a-time release.
    assert outcomes == [Outcome.RECORDED, None, None]
    assert parked == []
    assert list(timeline.entries) == [submitted.id, cause.id, ready.id]


class CountingStore(MemoryDeferredStore):
    """The memory store, counting its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    async def add(self, record: DeferredRecord) -> None:
        self.writes.append(1)
        await super().add(record)

    async def add_many(self, records: Sequence[DeferredRecord]) -> None:
        self.writes.append(len(records))
        await super().add_many(records)


async def test_a_batch_writes_its_deferred_events_at_once_in_partition_order(events) -> None:
    timeline = BatchTimeline()
    recorder, _, _ = recorder_for(timeline)
    store = CountingStore()
    recorder.deferrals = Deferrals(store, "tracking-unit")
    a, b = events.code(), events.code()
    missing = events.envelope(events.completed(a), a)  # never recorded
    waits = events.envelope(events.notification(a, cause=missing.id), a)
    behind = events.envelope(events.notification(a), a)
    other = events.envelope(events.submitted(b), b)
    outcomes = await recorder.process_many(
        [inbound(waits, 0), inbound(other, 1), inbound(behind, 2)]
    )
    assert outcomes == [Outcome.DEFERRED, Outcome.RECORDED, Outcome.DEFERRED]
    assert store.writes == [2]
    waiting = await store.of_key("tracking-unit", a.encode())
    assert [r.offset for r in waiting] == [0, 2]
    assert waiting[0].id < waiting[1].id
