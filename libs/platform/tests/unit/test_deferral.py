"""Deferred events through EventConsumer, without a broker: an event that is not ready
waits aside, only its application waits, and it is handled right after what it waited
for (or parked once it waited too long)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from onceonly.events.v1 import application_pb2, envelope_pb2
from onceonly.platform.deferral import Attempt, Deferrals, EventNotReady, MemoryDeferredStore
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import EventConsumer
from onceonly.platform.memory_kafka import MemoryBroker
from onceonly.platform.testing import eventually

SUBMISSIONS = "t.submissions.v1"
UPDATES = "t.applicant-updates.v1"


class Workflows:
    """Stands in for Temporal behind the bridge: a submission starts, an update needs it."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.applied: list[tuple[str, str]] = []
        self.calls = 0

    async def handle(self, envelope: Envelope, record: ConsumerRecord) -> None:
        self.calls += 1
        message = envelope.message()
        code = envelope.subject
        if isinstance(message, application_pb2.ApplicationSubmitted):
            self.started.append(code)
        elif code not in self.started:
            raise EventNotReady(f"the workflow of {code}")
        else:
            self.applied.append((code, message.DESCRIPTOR.name))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


_offsets: dict[tuple[str, int], int] = {}


def record(topic: str, partition: int, code: str, event: Any) -> ConsumerRecord:
    envelope = new_envelope(event, source="/onceonly/test", application_code=code)
    offset = _offsets.get((topic, partition), 0)
    _offsets[(topic, partition)] = offset + 1
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=code.encode(),
        value=envelope.data,
        checksum=None,
        serialized_key_size=len(code),
        serialized_value_size=len(envelope.data),
        headers=envelope.headers(),
    )


def submitted(code: str, partition: int = 0) -> ConsumerRecord:
    return record(
        SUBMISSIONS, partition, code, application_pb2.ApplicationSubmitted(application_code=code)
    )


def withdrawn(code: str, partition: int = 0) -> ConsumerRecord:
    event = application_pb2.WithdrawalRequested(application_code=code, reason="changed my mind")
    return record(UPDATES, partition, code, event)


def supplemented(code: str, partition: int = 0) -> ConsumerRecord:
    return record(
        UPDATES, partition, code, application_pb2.SupplementProvided(application_code=code)
    )


DEAD_LETTERS = "t.dlq.unit"


def consumer(
    workflows: Workflows,
    broker: MemoryBroker,
    deferrals: Deferrals | None,
    *,
    concurrency: int = 1,
) -> EventConsumer:
    return EventConsumer(
        bootstrap="unused",  # the in-memory broker's member instead
        topics=[SUBMISSIONS, UPDATES],
        group_id="unit",
        consumer_name="unit",
        dead_letter_topic=DEAD_LETTERS,
        handler=workflows.handle,
        producer=broker.producer(),
        concurrency=concurrency,
        deferrals=deferrals,
        new_consumer=lambda: broker.consumer(SUBMISSIONS, UPDATES, group_id="unit"),
    )


async def test_an_update_before_its_submission_waits_aside_and_follows_its_start() -> None:
    workflows, broker = Workflows(), MemoryBroker()
    store = MemoryDeferredStore()
    events = consumer(workflows, broker, Deferrals(store, "unit"))
    # One at a time, the updates' partition first: what stalled the bridge.
    batch = [withdrawn("K"), submitted("A"), submitted("B"), submitted("K"), submitted("C")]
    for item in batch:
        await asyncio.wait_for(events._process(item), 5)
    assert workflows.started == ["A", "B", "K", "C"]
    assert workflows.applied == [("K", "WithdrawalRequested")]
    assert await store.places("unit") == {}
    assert broker.records(DEAD_LETTERS) == []


async def test_concurrent_lanes_defer_too_and_keep_the_partition_order() -> None:
    workflows, broker = Workflows(), MemoryBroker()
    store = MemoryDeferredStore()
    events = consumer(workflows, broker, Deferrals(store, "unit"), concurrency=8)
    batch = [
        supplemented("K"),
        withdrawn("K"),  # same partition: must not overtake the supplement
        *(submitted(f"A{n}") for n in range(20)),
        submitted("K", partition=1),
    ]
    await asyncio.wait_for(events.process_batch(batch), 5)
    assert sorted(workflows.started) == sorted([*(f"A{n}" for n in range(20)), "K"])
    assert workflows.applied == [("K", "SupplementProvided"), ("K", "WithdrawalRequested")]
    assert await store.places("unit") == {}


async def test_a_later_event_of_the_same_partition_waits_behind_a_deferred_one() -> None:
    workflows, broker = Workflows(), MemoryBroker()
    store = MemoryDeferredStore()
    events = consumer(workflows, broker, Deferrals(store, "unit"))
    await events._process(withdrawn("K"))
    workflows.started.append("K")  # ready now, but the first update has not been retried
    await events._process(supplemented("K"))
    assert workflows.applied == []
    assert [r.waiting_for for r in await store.of_key("unit", b"K")] == [
        "the workflow of K",
        "an earlier deferred event of its partition",
    ]


async def test_the_sweep_handles_what_another_replica_deferred() -> None:
    store = MemoryDeferredStore()
    first = Workflows()
    await consumer(first, MemoryBroker(), Deferrals(store, "unit"))._process(withdrawn("K"))
    second = Workflows()
    second.started.append("K")  # its start was handled by this replica
    deferrals = Deferrals(store, "unit")
    replica = consumer(second, MemoryBroker(), deferrals)
    assert deferrals.sweep_due()
    await deferrals.sweep(replica._try_deferred, replica._park_deferred)
    assert second.applied == [("K", "WithdrawalRequested")]
    assert await store.places("unit") == {}
    assert not deferrals.sweep_due()


async def test_an_event_that_waits_too_long_is_parked_with_its_reason() -> None:
    workflows, broker, clock = Workflows(), MemoryBroker(), Clock()
    store = MemoryDeferredStore()
    deferrals = Deferrals(store, "unit", max_wait=timedelta(minutes=10), clock=clock)
    events = consumer(workflows, broker, deferrals)
    await events._process(withdrawn("NEVER"))
    clock.now += timedelta(minutes=5)
    await deferrals.sweep(events._try_deferred, events._park_deferred)
    assert broker.records(DEAD_LETTERS) == [] and await store.places("unit") != {}
    clock.now += timedelta(minutes=6)
    await deferrals.sweep(events._try_deferred, events._park_deferred)
    [parked] = broker.records(DEAD_LETTERS)
    letter = envelope_pb2.DeadLetter.FromString(parked.value)
    assert (parked.key, letter.source_topic) == (b"NEVER", UPDATES)
    assert letter.reason == "waited 660 s for the workflow of NEVER; gave up"
    assert await store.places("unit") == {}
    assert not deferrals.has(b"NEVER")


async def test_a_restarted_consumer_knows_what_waits() -> None:
    store = MemoryDeferredStore()
    await consumer(Workflows(), MemoryBroker(), Deferrals(store, "unit"))._process(withdrawn("K"))
    workflows = Workflows()
    deferrals = Deferrals(store, "unit")
    await deferrals.load()
    events = consumer(workflows, MemoryBroker(), deferrals)
    await events._process(submitted("K", partition=2))
    assert workflows.applied == [("K", "WithdrawalRequested")]


async def test_the_same_record_deferred_twice_is_kept_once() -> None:
    store = MemoryDeferredStore()
    events = consumer(Workflows(), MemoryBroker(), Deferrals(store, "unit"))
    item = withdrawn("K")
    await events._process(item)
    await events._process(item)  # redelivered after a crash before the commit
    assert len(await store.of_key("unit", b"K")) == 1


async def test_without_deferrals_not_ready_is_retried_in_place() -> None:
    workflows = Workflows()
    events = consumer(workflows, MemoryBroker(), None)
    waiting = asyncio.create_task(events._process(withdrawn("K")))
    # Tried a third time (after backing off 0.2 s and 0.4 s): still in hand, not put aside.
    await eventually(
        lambda: asyncio.sleep(0, workflows.calls),
        lambda calls: calls >= 3,
        within=5,
        what="a third attempt",
    )
    assert not waiting.done()
    workflows.started.append("K")
    await asyncio.wait_for(waiting, 5)
    assert workflows.applied == [("K", "WithdrawalRequested")]


async def test_the_consumer_loop_gets_past_an_update_ahead_of_its_submission() -> None:
    """Issue 21 through `run()`: the update fetched alone first, then the submissions;
    every application is started and the offsets are committed to the end."""
    workflows, broker = Workflows(), MemoryBroker()
    store = MemoryDeferredStore()
    events = consumer(workflows, broker, Deferrals(store, "unit"), concurrency=8)
    producer = broker.producer()
    early = withdrawn("K")
    await producer.send_and_wait(UPDATES, value=early.value, key=early.key, headers=early.headers)
    await events.start()
    running = asyncio.create_task(events.run())
    try:
        await eventually(lambda: store.places("unit"), lambda held: b"K" in held, within=5)
        for item in [submitted(f"A{n}") for n in range(10)] + [submitted("K")]:
            await producer.send_and_wait(
                SUBMISSIONS, value=item.value, key=item.key, headers=item.headers
            )
        await eventually(
            lambda: _applied(workflows), lambda applied: applied == [("K", "WithdrawalRequested")]
        )
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await events.stop()
    assert sorted(workflows.started) == sorted([*(f"A{n}" for n in range(10)), "K"])
    assert await store.places("unit") == {}
    for topic in (SUBMISSIONS, UPDATES):
        for partition, records in enumerate(broker.log(topic)):
            if records:  # committed to the end: nothing held back, nothing to fetch again
                assert broker.committed("unit", TopicPartition(topic, partition)) == len(records)


async def _applied(workflows: Workflows) -> list[tuple[str, str]]:
    return workflows.applied


async def test_a_store_that_is_away_neither_stops_the_sweep_nor_loses_a_release() -> None:
    workflows, broker = Workflows(), MemoryBroker()
    store = MemoryDeferredStore()
    deferrals = Deferrals(store, "unit")
    events = consumer(workflows, broker, deferrals)
    await events._process(withdrawn("K"))
    # Postgres restarting: the sweep gives up until next time, the consumer goes on.
    store.failures.append(ConnectionRefusedError("postgres restarting"))
    await deferrals.sweep(events._try_deferred, events._park_deferred)
    assert not deferrals.sweep_due()
    # The submission comes while the store fails once more: the release is retried.
    store.failures.append(ConnectionRefusedError("postgres restarting"))
    await asyncio.wait_for(events._process(submitted("K", partition=1)), 5)
    assert workflows.applied == [("K", "WithdrawalRequested")]
    assert await store.places("unit") == {}


async def test_several_keys_are_released_with_one_read_and_one_removal() -> None:
    store = MemoryDeferredStore()
    deferrals = Deferrals(store, "bridge", clock=Clock())
    for code in ("330100-2026-000071", "330100-2026-000072", "330100-2026-000073"):
        await deferrals.defer(withdrawn(code), "its submission")
        await deferrals.defer(supplemented(code), "its submission")
    tried: list[tuple[bytes, int]] = []
    reads = removals = 0
    of_keys, remove = store.of_keys, store.remove

    async def counted_of_keys(consumer: str, keys: list[bytes]) -> list[Any]:
        nonlocal reads
        reads += 1
        return await of_keys(consumer, keys)

    async def counted_remove(consumer: str, ids: list[int]) -> None:
        nonlocal removals
        removals += 1
        await remove(consumer, ids)

    store.of_keys = counted_of_keys  # type: ignore[method-assign]
    store.remove = counted_remove  # type: ignore[method-assign]

    async def attempt(deferred: Any) -> Attempt:
        tried.append((deferred.key, deferred.offset))
        # The second application's first event is still not ready: its later one waits.
        return Attempt.WAITING if deferred.key.endswith(b"72") else Attempt.HANDLED

    async def park(deferred: Any, reason: str) -> None:
        raise AssertionError("nothing waited too long")

    keys = [b"330100-2026-000073", b"330100-2026-000072", b"330100-2026-000071"]
    await deferrals.release_many(keys, attempt, park)
    # Key after key in the order given, each key's in arrival order; the waiting one
    # holds back the later record of its partition.
    assert [key[-2:] for key, _ in tried] == [b"73", b"73", b"72", b"71", b"71"]
    assert (reads, removals) == (2, 1)  # one read, one removal, one read back
    assert not deferrals.has(b"330100-2026-000071")
    assert deferrals.has(b"330100-2026-000072")
    assert len(await store.of_key("bridge", b"330100-2026-000072")) == 2


async def test_an_earlier_record_waiting_for_a_later_one_of_another_partition_follows_it() -> None:
    # Tracking's case: a notification's outcome (deferred first) waits for the workflow's
    # event, deferred after it on another topic while its submission was missing.
    store = MemoryDeferredStore()
    deferrals = Deferrals(store, "tracking", clock=Clock())
    code = "330100-2026-000081"
    effect = record("t.notification-outcomes.v1", 1, code, application_pb2.WithdrawalRequested())
    cause = record("t.approval-events.v1", 2, code, application_pb2.WithdrawalRequested())
    await deferrals.defer(effect, "its cause")
    await deferrals.defer(cause, "its submission")
    handled: list[int] = []

    async def attempt(deferred: Any) -> Attempt:
        if deferred.partition == 1 and 2 not in handled:
            return Attempt.WAITING
        handled.append(deferred.partition)
        return Attempt.HANDLED

    async def park(deferred: Any, reason: str) -> None:
        raise AssertionError("nothing waited too long")

    await deferrals.release(code.encode(), attempt, park)
    assert handled == [2, 1]  # the cause in the first pass, its effect in the next
    assert not deferrals.has(code.encode())
    assert await store.of_key("tracking", code.encode()) == []
