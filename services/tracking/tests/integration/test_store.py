"""The Postgres store: idempotent, serialised, tamper-evident appends."""

import asyncio
import itertools
import random

import asyncpg
import pytest

from onceonly.tracking.chain import GENESIS_HASH
from onceonly.tracking.errors import ApplicationNotFound, UnprocessableEvent

pytestmark = pytest.mark.integration


async def append(store, envelope, offset: int = 0, topic: str = "t.approval-events.v1") -> bool:
    return await store.append(envelope, topic=topic, partition=0, offset=offset)


async def test_the_same_event_twice_is_one_entry(store, events) -> None:
    code = events.code()
    envelope = events.envelope(events.submitted(code), code)
    assert await append(store, envelope, offset=1) is True
    # Redelivered, even read from another topic: nothing changes.
    assert await append(store, envelope, offset=2, topic="t.submissions.v1") is False

    entries = await store.timeline(code)
    assert [(e.seq, e.event_id, e.offset, e.topic) for e in entries] == [
        (1, envelope.id, 1, "t.approval-events.v1")
    ]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[0].type == "onceonly.events.v1.ApplicationSubmitted"
    assert entries[0].time == envelope.time
    verification = await store.verify(code)
    assert (verification.intact, verification.entries) == (True, 1)


async def test_summary_holds_masks_only_and_data_the_raw_event(store, events, pool) -> None:
    code = events.code()
    envelope = events.envelope(events.submitted(code), code)
    await append(store, envelope)
    [entry] = await store.timeline(code)
    assert entry.summary["applicant"]["name"] == "张**"
    assert entry.summary["contact"]["mobile"] == "1381234****"
    row = await pool.fetchrow(
        "SELECT data, summary::text AS summary FROM tracking.timeline WHERE event_id = $1",
        envelope.id,
    )
    assert bytes(row["data"]) == envelope.data
    for secret in ("张三丰", "430102199001011234", "13812345678", "sealed"):
        assert secret not in row["summary"]


async def test_status_follows_the_events_in_the_same_transaction(store, events) -> None:
    code = events.code()
    with pytest.raises(ApplicationNotFound):
        await store.status(code)
    await append(store, events.envelope(events.submitted(code), code))
    assert (await store.status(code)).state == "submitted"
    for minutes, message in enumerate(
        [events.accepted(code), events.task_started(code), events.task_decided(code)], start=1
    ):
        await append(store, events.envelope(message, code, minutes=minutes))
    status = await store.status(code)
    assert status.state == "accepted"
    assert status.matter_code == "household-transfer"
    assert status.tasks["public-security"].state == "approved"
    await append(store, events.envelope(events.completed(code), code, minutes=9))
    status = await store.status(code)
    assert status.state == "completed"
    assert status.last_event_at == events.t0.replace(minute=9)


async def test_concurrent_appends_for_one_application_are_contiguous_and_chained(
    store, events
) -> None:
    code = events.code()
    # The submission first: the workflow's events wait for a timeline to follow.
    assert await append(store, events.envelope(events.submitted(code), code))
    envelopes = [
        events.envelope(events.task_started(code, f"dept-{i}"), code, minutes=i) for i in range(60)
    ]
    # Every event delivered twice, in random order, from many tasks at once (as agents
    # on different topics and redeliveries would).
    deliveries = [*envelopes, *envelopes]
    random.Random(7).shuffle(deliveries)
    results = await asyncio.gather(
        *(append(store, env, offset=i) for i, env in enumerate(deliveries))
    )
    assert sum(results) == len(envelopes)

    entries = await store.timeline(code)
    assert [e.seq for e in entries] == list(range(1, len(envelopes) + 2))
    assert {e.event_id for e in entries[1:]} == {env.id for env in envelopes}
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    verification = await store.verify(code)
    assert (verification.intact, verification.entries) == (True, 61)
    assert len((await store.status(code)).tasks) == 60


async def test_concurrent_applications_do_not_wait_for_each_other_or_mix(store, events) -> None:
    codes = [events.code() for _ in range(8)]
    for code in codes:
        assert await append(store, events.envelope(events.submitted(code), code))
    work = [
        events.envelope(events.task_started(code, f"d{i}"), code, minutes=i)
        for code in codes
        for i in range(5)
    ]
    random.Random(11).shuffle(work)
    assert all(await asyncio.gather(*(append(store, env) for env in work)))
    for code in codes:
        entries = await store.timeline(code)
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
        assert (await store.verify(code)).intact


async def _tamper(pool: asyncpg.Pool, sql: str, *args: object) -> None:
    """Change the timeline as an intruder with the table owner's rights would."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE tracking.timeline DISABLE TRIGGER timeline_append_only")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE tracking.timeline ENABLE TRIGGER timeline_append_only")


async def _five(store, events) -> str:
    code = events.code()
    for minutes, message in enumerate(
        [
            events.submitted(code),
            events.accepted(code),
            events.task_started(code),
            events.task_decided(code),
            events.completed(code),
        ]
    ):
        await append(store, events.envelope(message, code, minutes=minutes))
    return code


async def test_a_tampered_row_is_reported_at_its_seq(store, events, pool) -> None:
    code = await _five(store, events)
    assert (await store.verify(code)).intact
    forged = events.task_decided(code, outcome=2, reason="forged rejection").SerializeToString()
    await _tamper(
        pool,
        "UPDATE tracking.timeline SET data = $2 WHERE application_code = $1 AND seq = 4",
        code,
        forged,
    )
    verification = await store.verify(code)
    assert verification.intact is False
    assert verification.first_broken_seq == 4
    assert verification.entries == 5


async def test_a_back_dated_event_time_is_reported(store, events, pool) -> None:
    code = await _five(store, events)
    await _tamper(
        pool,
        "UPDATE tracking.timeline SET ce_time = ce_time - interval '2 days'"
        " WHERE application_code = $1 AND seq = 2",
        code,
    )
    verification = await store.verify(code)
    assert (verification.intact, verification.first_broken_seq) == (False, 2)


@pytest.mark.parametrize(
    ("what", "change"),
    [
        # What a reader is shown of an entry besides the event: each change is found at
        # the entry it was made to (chain version 2).
        ("the summary's wording", "summary = jsonb_set(summary, '{type}', '\"forged\"')"),
        ("the actor", 'summary = summary || \'{"actor": {"staff_id": "ps-9999"}}\''),
        ("the department", 'summary = summary || \'{"department_code": "tax"}\''),
        ("a summary field added", 'summary = summary || \'{"note": "approved early"}\''),
        ("when it was recorded", "recorded_at = recorded_at - interval '1 day'"),
        ("where it was read", "kafka_offset = kafka_offset + 1"),
        ("the topic", "topic = 'elsewhere.approval-events.v1'"),
        ("its version, to one whose hash covers less", "chain_version = 1"),
    ],
)
async def test_every_field_a_reader_sees_is_covered(store, events, pool, what, change) -> None:
    code = await _five(store, events)
    assert (await store.verify(code)).intact
    await _tamper(
        pool, f"UPDATE tracking.timeline SET {change} WHERE application_code = $1 AND seq = 3", code
    )
    verification = await store.verify(code)
    assert (verification.intact, verification.first_broken_seq) == (False, 3), what


async def test_rows_written_before_version_2_still_verify(store, events, pool) -> None:
    """A version 1 row (written before the summary was hashed) verifies under its own
    version, and a timeline may continue in version 2 after it."""
    from onceonly.tracking import chain

    code = events.code()
    envelope = events.envelope(events.submitted(code), code)
    entry = chain.next_entry(
        head_seq=0,
        head_hash=GENESIS_HASH,
        application_code=code,
        event_id=envelope.id,
        ce_type=envelope.type,
        ce_source=envelope.source,
        ce_time=envelope.time,
        data=envelope.data,
    )
    assert entry.version == 1
    await pool.execute(
        "INSERT INTO tracking.timeline_heads (application_code, last_seq, last_hash)"
        " VALUES ($1, 1, $2)",
        code,
        entry.hash,
    )
    await pool.execute(
        "INSERT INTO tracking.timeline (application_code, seq, event_id, ce_type, ce_source,"
        " ce_time, topic, partition, kafka_offset, data, summary, prev_hash, hash)"
        " VALUES ($1, 1, $2, $3, $4, $5, 't', 0, 0, $6, '{}', $7, $8)",
        code,
        entry.event_id,
        entry.ce_type,
        entry.ce_source,
        entry.ce_time,
        entry.data,
        GENESIS_HASH,
        entry.hash,
    )
    await append(store, events.envelope(events.accepted(code), code, minutes=1), offset=1)
    versions = await pool.fetch(
        "SELECT chain_version FROM tracking.timeline WHERE application_code = $1 ORDER BY seq",
        code,
    )
    assert [row["chain_version"] for row in versions] == [1, 2]
    assert (await store.verify(code)).intact


async def test_deleted_rows_are_reported_even_the_newest(store, events, pool) -> None:
    code = await _five(store, events)
    await _tamper(
        pool, "DELETE FROM tracking.timeline WHERE application_code = $1 AND seq = 5", code
    )
    verification = await store.verify(code)
    assert (verification.intact, verification.first_broken_seq, verification.entries) == (
        False,
        5,
        4,
    )
    other = await _five(store, events)
    await _tamper(
        pool, "DELETE FROM tracking.timeline WHERE application_code = $1 AND seq = 2", other
    )
    assert (await store.verify(other)).first_broken_seq == 2


async def test_the_timeline_refuses_ordinary_updates_and_deletes(store, events, pool) -> None:
    code = await _five(store, events)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute(
            "UPDATE tracking.timeline SET summary = '{}' WHERE application_code = $1", code
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute("DELETE FROM tracking.timeline WHERE application_code = $1", code)
    assert len(await store.timeline(code)) == 5


async def test_unknown_applications_are_not_found(store, events) -> None:
    code = events.code()
    with pytest.raises(ApplicationNotFound):
        await store.timeline(code)
    with pytest.raises(ApplicationNotFound):
        await store.verify(code)


async def test_an_event_id_reused_by_another_application_is_a_duplicate(store, events) -> None:
    first, second = events.code(), events.code()
    envelope = events.envelope(events.submitted(first), first)
    assert await append(store, envelope)
    clash = events.envelope(events.submitted(second), second, event_id=envelope.id)
    assert await append(store, clash) is False
    with pytest.raises(ApplicationNotFound):
        await store.timeline(second)
    with pytest.raises(ApplicationNotFound):
        await store.verify(second)  # rolled back: no head left behind


async def test_nul_characters_are_unprocessable_not_retried(store, events) -> None:
    code = events.code()
    message = events.task_decided(code, reason="bad\x00reason")
    with pytest.raises(UnprocessableEvent):
        await append(store, events.envelope(message, code))
    with pytest.raises(ApplicationNotFound):
        await store.timeline(code)


async def test_record_returns_the_same_transition_the_timeline_fold_gives(
    store, events, pool
) -> None:
    # The agent counts from what `record` returns instead of folding the timeline again.
    code = events.code()
    messages = [
        events.submitted(code),
        events.accepted(code),
        events.task_started(code),
        events.task_decided(code),
        events.completed(code),
    ]
    sent = []
    for offset, message in enumerate(messages):
        envelope = events.envelope(message, code, minutes=offset)
        sent.append(envelope)
        found = await store.record(
            envelope, topic="t.approval-events.v1", partition=0, offset=offset
        )
        assert found is not None and found.projection_consistent
        folded = await store.transition(
            envelope.id, topic="t.approval-events.v1", partition=0, offset=offset
        )
        assert (found.before, found.after) == folded
        assert found.after == await store.status(code)
    assert await store.record(sent[0], topic="t.approval-events.v1", partition=0, offset=9) is None

    # A status row dropped under a timeline with entries: `before` is not the timeline's.
    await pool.execute("DELETE FROM tracking.application_status WHERE application_code = $1", code)
    late = events.envelope(events.notification(code, cause=sent[0].id), code, minutes=30)
    found = await store.record(late, topic="t.approval-events.v1", partition=0, offset=10)
    assert found is not None
    assert found.before is None
    assert found.projection_consistent is False
