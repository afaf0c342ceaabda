"""The faust app: one agent per stream topic, each recording events on timelines.

Composition root of the `onceonly-tracking agent` process. The worker starts
`TrackingRuntime` before the app, so the agents only run once Postgres is migrated,
the topics exist and the dead-letter producer is up; they run in the worker's event
loop, where the pool and the producer were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import faust
import structlog
import uvloop
from aiokafka import AIOKafkaProducer
from faust.types import TP
from mode import Service

from onceonly.platform.db import DATABASE_TROUBLE, create_pool, prepare_database
from onceonly.platform.deferral import Attempt, DeferredRecord
from onceonly.platform.deferral_store import postgres_deferrals
from onceonly.platform.heartbeat import run_heartbeat
from onceonly.platform.kafka import build_producer, dead_letter, ensure_topics, wait_for_kafka
from onceonly.platform.kafka_ports import Located
from onceonly.platform.metrics import ConsumerCounters, serve_metrics
from onceonly.platform.partition_reader import PartitionReader
from onceonly.platform.retry import retry_forever
from onceonly.platform.topics import APPLICATION_STREAMS, Stream, dead_letter_topic, topic_name
from onceonly.tracking import counters
from onceonly.tracking.batch import Appended, Pending, Result
from onceonly.tracking.checkpoint import slot_of
from onceonly.tracking.checkpoint_store import CheckpointStore
from onceonly.tracking.checkpoints import Checkpointer, checkpoint_topic
from onceonly.tracking.continuity import BEGINNING, Continuity, Partition
from onceonly.tracking.pacing import CAUSE_STREAMS, CausePacing, newest_by_partition
from onceonly.tracking.processing import (
    AGENT_COMPONENT,
    CONSUMER_NAME,
    Inbound,
    Outcome,
    TimelineRecorder,
    event_id,
    normalise_headers,
)
from onceonly.tracking.progress_store import PartitionProgressStore
from onceonly.tracking.rebalance import resume_after_rebalance
from onceonly.tracking.settings import TrackingSettings
from onceonly.tracking.status import ApplicationStatus
from onceonly.tracking.store import Recorded, TrackingStore

log = structlog.get_logger(__name__)

PARTITIONS = 3
# How often the partition progress is written (continuity.py: a lag only causes re-reads).
PROGRESS_FLUSH_SECONDS = 1.0
# How often partitions left idle by the consumer are checked against the log end, and
# how long idle they must be (continuity.py: a hole at the end of a partition).
CATCH_UP_EVERY_SECONDS = 10.0
# Records read back from Kafka at most at once when a hole is filled (continuity.py):
# a long hole is read and recorded page by page, not held in memory whole.
READ_BACK_PAGE = 5000
# How often the agent looks whether deferred events are due another try (the settings'
# deferral_sweep_seconds says how often they are).
DEFERRED_CHECK_SECONDS = 1.0
# An agent takes up to this many records at once, waiting at most
# `tracking_batch_within_seconds` for more: a partition's records of one batch are
# recorded in one transaction (batch.py).
BATCH_MAX = 200


def app_id(settings: TrackingSettings) -> str:
    """`onceonly-tracking` for the real prefix; per prefix so test runs get their own group."""
    return f"{settings.topic_prefix}-tracking"


def stream_topics(settings: TrackingSettings) -> dict[Stream, str]:
    """The topics the agents follow: every stream of application events (not the
    checkpoints, which tracking itself publishes and which belong to no timeline)."""
    return {stream: topic_name(settings.topic_prefix, stream) for stream in APPLICATION_STREAMS}


class TrackingRuntime(Service):
    """Postgres pool, migrations, topics, dead-letter producer and heartbeat."""

    def __init__(self, settings: TrackingSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.store: TrackingStore | None = None
        self.progress: PartitionProgressStore | None = None
        self.reader = PartitionReader(
            settings.kafka_bootstrap, client_id=f"{app_id(settings)}-gaps"
        )
        self.recorder = TimelineRecorder(
            append=self._append,
            append_batch=self._append_batch,
            park=self._park,
            retry_initial=settings.tracking_retry_initial_seconds,
            retry_max=settings.tracking_retry_max_seconds,
        )
        self.dlq = dead_letter_topic(settings.topic_prefix, CONSUMER_NAME)
        self.counters = ConsumerCounters.of(CONSUMER_NAME)
        # Set by create_tracking_app, which has the live-counter table its handler needs,
        # and the faust consumer's current assignment.
        self.continuity: Continuity | None = None
        self.assignment: Callable[[], Iterable[Any]] | None = None
        # What each append just did to the status projection, by event id, until the
        # live counters take it (saves folding the timeline again for every event).
        self.just_recorded: dict[str, Recorded] = {}
        # Records a deferred event that is tried again (set by create_tracking_app, as
        # `continuity` is: it counts on the live-counter table too).
        self.handle_released: Callable[[Inbound], Awaitable[Outcome]] | None = None
        # Deferred events recorded by a batch (`release_many`) until `try_released`
        # takes them, by (topic, partition, offset); `count_released` counts one then.
        self.prehandled: set[tuple[str, int, int]] = set()
        self.count_released: Callable[[Inbound], Awaitable[None]] | None = None
        # Signs and publishes a checkpoint once per slot (None: tracking_checkpoint_seconds 0).
        self.checkpointer: Checkpointer | None = None
        # Holds an agent's batch while its causes' agents record older records (set by
        # create_tracking_app, which has the consumer).
        self.pacing: CausePacing | None = None

    async def on_start(self) -> None:
        settings = self.settings
        await wait_for_kafka(settings.kafka_bootstrap)
        # faust declares only its internal topics; ours must exist before it subscribes.
        await ensure_topics(
            settings.kafka_bootstrap,
            [*stream_topics(settings).values(), self.dlq, checkpoint_topic(settings.topic_prefix)],
            partitions=PARTITIONS,
        )
        self.pool = await _connect(settings)
        await prepare_database(self.pool, component="tracking", package="onceonly.tracking")
        self.store = TrackingStore(self.pool)
        self.progress = PartitionProgressStore(self.pool)
        deferrals = postgres_deferrals(self.pool, app_id(settings), settings)
        await retry_forever(deferrals.load, what="loading deferred events")
        self.recorder.deferrals = deferrals
        self.producer = build_producer(settings.kafka_bootstrap, client_id=app_id(settings))
        await self.producer.start()
        if settings.tracking_checkpoint_seconds > 0:
            ring = settings.checkpoint_signing_keys()
            self.checkpointer = Checkpointer(
                CheckpointStore(self.pool),
                self.producer,
                topic=checkpoint_topic(settings.topic_prefix),
                signer=ring.current,
                keys=settings.checkpoint_public_keys() or ring.published(),
                keep_leaves=settings.tracking_checkpoint_keep_leaves,
            )
        log.info("tracking runtime ready", topics=list(stream_topics(settings).values()))

    async def on_stop(self) -> None:
        # The last progress, bounded: saving retries while Postgres is away.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._store_progress(), timeout=5.0)
        await self.reader.close()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()

    @Service.task
    async def _heartbeat(self) -> None:
        assert self.pool is not None
        await run_heartbeat(
            self.pool,
            AGENT_COMPONENT,
            every=self.settings.heartbeat_seconds,
            detail=lambda: {
                **self.recorder.counts,
                "retries": self.recorder.retries,
                # Batches held for their causes' agents (pacing.py), and those let go
                # when the wait ran out. Present once non-zero.
                **{
                    name: count
                    for name, count in (
                        ("paced", self.pacing.waits if self.pacing else 0),
                        ("paced_gave_up", self.pacing.gave_up if self.pacing else 0),
                    )
                    if count
                },
                # Records the consumer skipped and the agent read back (continuity.py):
                # "read_back_recorded" ones would have been lost. Present once non-zero.
                **{
                    f"read_back_{outcome}": count
                    for outcome, count in (
                        self.continuity.filled if self.continuity else {}
                    ).items()
                },
            },
        )

    @Service.task
    async def _checkpoints(self) -> None:
        """One checkpoint per cadence slot, made at the slot's start: an agent that
        finds its slot taken by another one leaves it (checkpoint_store)."""
        every = self.settings.tracking_checkpoint_seconds
        while not self.should_stop and every > 0:
            now = datetime.now(UTC)
            next_slot = slot_of(now, every) + timedelta(seconds=max(1, int(every)))
            await self.sleep((next_slot - now).total_seconds())
            if self.checkpointer is None or self.should_stop:
                continue
            try:
                await self.checkpointer.run_once(every_seconds=every)
            except Exception as exc:  # Postgres or Kafka away: the next slot tries again
                log.warning("timeline checkpoint not made", error=f"{type(exc).__name__}: {exc}")

    @Service.timer(PROGRESS_FLUSH_SECONDS)
    async def _flush_progress(self) -> None:
        await self._store_progress()

    async def _store_progress(self) -> None:
        # Its own method: a @Service.timer method is a ServiceTask, which `self.x()`
        # cannot call (on_stop did, and failed with a TypeError).
        if self.continuity is None or self.progress is None:
            return
        try:
            await self.continuity.flush()
        except Exception as exc:  # kept for the next flush; Postgres may be restarting
            log.warning("partition progress not stored", error=f"{type(exc).__name__}: {exc}")

    @Service.timer(CATCH_UP_EVERY_SECONDS)
    async def _catch_up(self) -> None:
        if self.continuity is None or self.progress is None:
            return
        try:
            ends = await self.reader.end_offsets(list(stream_topics(self.settings).values()))
        except Exception as exc:  # Kafka may be restarting: the next round tries again
            log.warning("log end offsets not read", error=f"{type(exc).__name__}: {exc}")
            return
        if self.assignment is not None:
            try:
                held = {(tp.topic, tp.partition) for tp in self.assignment()}
            except Exception as exc:  # the consumer is not started yet
                log.info("assignment not known yet", error=f"{type(exc).__name__}: {exc}")
                return
            self.continuity.assigned(held)
        for partition, end in ends.items():
            await self.continuity.catch_up(
                partition, end, idle_for=self.settings.tracking_catch_up_idle_seconds
            )

    @Service.timer(DEFERRED_CHECK_SECONDS)
    async def _sweep_deferred(self) -> None:
        deferrals = self.recorder.deferrals
        if deferrals is None or self.handle_released is None or not deferrals.sweep_due():
            return
        await deferrals.sweep(self.try_released, self.park_released)

    async def release(self, record: Inbound) -> None:
        """Try the deferred events of `record`'s application: it may be their cause."""
        deferrals = self.recorder.deferrals
        if deferrals is not None and record.key is not None and deferrals.has(record.key):
            await retry_forever(
                lambda: deferrals.release(record.key or b"", self.try_released, self.park_released),
                what="releasing deferred events",
                initial=self.settings.tracking_retry_initial_seconds,
                maximum=self.settings.tracking_retry_max_seconds,
            )

    async def release_many(
        self, records: Iterable[Inbound], *, just_deferred: Iterable[Inbound] = ()
    ) -> None:
        """`release` for the applications of `records`, recording first, in one
        transaction, every deferred event of theirs that can be recorded now.

        `just_deferred`: records this agent has just set aside. What they wait for may
        have been recorded meanwhile by another topic's agent, which looked for deferred
        events before these were stored and found none: they are tried once more, in
        the same transaction, and released only if that recorded any."""
        deferrals = self.recorder.deferrals
        if deferrals is None:
            return
        waiting = {r.key: r for r in records if deferrals.has(r.key)}
        recheck = {r.key for r in just_deferred if r.key not in waiting and deferrals.has(r.key)}
        if not waiting and not recheck:
            return
        recorded, recorded_keys = await retry_forever(
            lambda: self._record_released([*waiting, *recheck]),
            what="recording released events",
            initial=self.settings.tracking_retry_initial_seconds,
            maximum=self.settings.tracking_retry_max_seconds,
        )
        self.prehandled |= recorded
        keys = [key or b"" for key in [*waiting, *(recheck & recorded_keys)]]
        if not keys:
            return
        try:
            await retry_forever(
                lambda: deferrals.release_many(keys, self.try_released, self.park_released),
                what="releasing deferred events",
                initial=self.settings.tracking_retry_initial_seconds,
                maximum=self.settings.tracking_retry_max_seconds,
            )
        finally:
            # Any not taken (another agent's sweep removed them meanwhile) are recorded:
            # tried again later, they are duplicates.
            self.prehandled -= recorded

    async def _record_released(
        self, keys: list[bytes | None]
    ) -> tuple[set[tuple[str, int, int]], set[bytes | None]]:
        """Record those of the keys' deferred events that can be now; their places and
        their keys."""
        deferrals = self.recorder.deferrals
        assert deferrals is not None
        deferred = await deferrals.store.of_keys(deferrals.consumer, [key or b"" for key in keys])
        records = [released_inbound(d) for d in deferred]
        outcomes = await self.recorder.record_released(records)
        done = [
            record for record, outcome in zip(records, outcomes, strict=True) if outcome is not None
        ]
        return {(r.topic, r.partition, r.offset) for r in done}, {r.key for r in done}

    async def try_released(self, deferred: DeferredRecord) -> Attempt:
        assert self.handle_released is not None
        record = released_inbound(deferred)
        place = (record.topic, record.partition, record.offset)
        if place in self.prehandled and self.count_released is not None:
            # Recorded by release_many: counted now, in the order `release` takes it.
            await self.count_released(record)
            self.prehandled.discard(place)
            return Attempt.HANDLED
        outcome = await self.handle_released(record)
        return Attempt.WAITING if outcome is Outcome.DEFERRED else Attempt.HANDLED

    async def park_released(self, deferred: DeferredRecord, reason: str) -> None:
        await retry_forever(
            lambda: self._park(deferred, reason),
            what="parking a deferred event",
            initial=self.settings.tracking_retry_initial_seconds,
            maximum=self.settings.tracking_retry_max_seconds,
        )

    async def load_progress(self, topic: str, partition: int) -> int | None:
        assert self.progress is not None
        progress = self.progress
        return await retry_forever(
            lambda: progress.next_offset(topic, partition),
            what="reading partition progress",
            initial=self.settings.tracking_retry_initial_seconds,
            maximum=self.settings.tracking_retry_max_seconds,
        )

    async def save_progress(self, next_offsets: dict[tuple[str, int], int]) -> None:
        assert self.progress is not None
        progress = self.progress
        await retry_forever(
            lambda: progress.save(next_offsets),
            what="storing partition progress",
            initial=self.settings.tracking_retry_initial_seconds,
            maximum=self.settings.tracking_retry_max_seconds,
        )

    async def read_skipped(
        self, topic: str, partition: int, start: int, stop: int
    ) -> list[Inbound]:
        records = await retry_forever(
            lambda: self.reader.read(topic, partition, start, stop, limit=READ_BACK_PAGE),
            what="reading skipped offsets",
            initial=self.settings.tracking_retry_initial_seconds,
            maximum=self.settings.tracking_retry_max_seconds,
            log_fields={"topic": topic, "partition": partition, "start": start, "stop": stop},
        )
        return [inbound(record) for record in records]

    async def _append(self, envelope: Any, **kwargs: Any) -> bool:
        assert self.store is not None
        found = await self.store.record(envelope, **kwargs)
        if found is None:
            return False
        self.just_recorded[envelope.id] = found
        return True

    async def _append_batch(self, items: Sequence[Pending]) -> list[Result]:
        assert self.store is not None
        results = await self.store.record_batch(items)
        for result in results:
            if isinstance(result, Appended):
                self.just_recorded[result.entry.event_id] = Recorded(
                    before=result.before,
                    after=result.after,
                    projection_consistent=result.projection_consistent,
                )
        return results

    async def transition(
        self, event_id: str, *, topic: str, partition: int, offset: int
    ) -> tuple[ApplicationStatus | None, ApplicationStatus] | None:
        """The status before and after the event, as `TrackingStore.transition` gives
        it: taken from the append that just recorded it when it can be, else folded
        from the timeline (a redelivery, or a status row that was missing)."""
        found = self.just_recorded.pop(event_id, None)
        if found is not None and found.projection_consistent:
            return found.before, found.after
        assert self.store is not None
        return await self.store.transition(
            event_id, topic=topic, partition=partition, offset=offset
        )

    async def _park(self, record: Located, reason: str) -> None:
        assert self.producer is not None
        letter = dead_letter(record, consumer=CONSUMER_NAME, reason=reason)
        await self.producer.send_and_wait(
            self.dlq, value=letter.SerializeToString(), key=record.key
        )
        # Here, not by outcome: deferred events that waited too long are parked here too.
        self.counters.dead_lettered.inc()


async def _connect(settings: TrackingSettings, *, attempts: int = 60) -> asyncpg.Pool:
    """The pool, waiting for Postgres when the agent starts before it."""
    for attempt in range(1, attempts + 1):
        try:
            # No session state is left on a connection (the migrations' advisory lock
            # is released explicitly): skip asyncpg's reset round trip per checkout.
            return await create_pool(
                settings.database_url, max_size=settings.database_pool_max, reset_sessions=False
            )
        except DATABASE_TROUBLE as exc:
            if attempt == attempts:
                raise
            log.info("waiting for postgres", attempt=attempt, error=str(exc))
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


def released_inbound(deferred: DeferredRecord) -> Inbound:
    return Inbound(
        topic=deferred.topic,
        partition=deferred.partition,
        offset=deferred.offset,
        key=deferred.key,
        value=deferred.value,
        headers=list(deferred.headers),
    )


def inbound(message: Any) -> Inbound:
    """A faust Message or an aiokafka ConsumerRecord as tracking's Inbound."""
    return Inbound(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=normalise_headers(message.headers),
    )


@dataclass
class TrackingApp:
    app: faust.App
    runtime: TrackingRuntime
    agents: dict[Stream, Any]
    counters: Any  # the faust Table of live counters


def create_tracking_app(settings: TrackingSettings) -> TrackingApp:
    """The faust app with its agents, and the runtime they need started before them."""
    runtime = TrackingRuntime(settings)
    data_dir = Path(tempfile.gettempdir()) / f"{app_id(settings)}-data"
    app = faust.App(
        app_id(settings),
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        store="memory://",
        processing_guarantee="at_least_once",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=PARTITIONS,
        # faust's own topics (the live counters' changelog) as ours: the settings' layout.
        topic_replication_factor=settings.kafka_replication_factor,
        broker_credentials=settings.kafka_security().faust_credentials(),
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.tracking_agent_session_timeout_seconds,
        web_enabled=settings.tracking_agent_port > 0,
        web_bind=settings.tracking_host,
        web_port=settings.tracking_agent_port or None,
        autodiscover=False,
        datadir=str(data_dir),
    )
    resume_after_rebalance(app)
    # Live counters (see onceonly.tracking.counters), restored from their changelog topic.
    table = app.Table(
        "live-counters",
        key_type=str,
        partitions=PARTITIONS,
        # The producer picks the changelog partition from the key. Without this, faust
        # checks the changelog's partition count against its consumer's metadata on the
        # first write, and a restarted agent whose metadata did not list the changelog yet
        # crashed with PartitionsMismatch ("has 0 partitions"; found by tests/chaos). Keys
        # carry their source partition, and one agent process restores every changelog
        # partition, so the counts are the same.
        use_partitioner=True,
        help="Per department and source partition: tasks started and completed, open alerts",
    )
    runtime.continuity = Continuity(
        load=runtime.load_progress,
        save=runtime.save_progress,
        fetch=runtime.read_skipped,
        handle=lambda record: _handle(runtime, table, record),
        handle_batch=lambda records: _handle_batch(runtime, table, records),
        read_back_batch=BATCH_MAX,
    )
    runtime.handle_released = lambda record: _handle(runtime, table, record, released=True)
    runtime.count_released = lambda record: _counted(runtime, table, [record])
    runtime.assignment = lambda: _assignment(app)
    runtime.pacing = _cause_pacing(app, runtime)
    agents = {
        stream: _follow(app, runtime, stream, name)
        for stream, name in stream_topics(settings).items()
    }
    if settings.tracking_agent_port > 0:

        @app.page("/v1/live-counters")
        async def live_counters(web: Any, request: Any) -> Any:
            # Departments' codes and counts only: no personal data, bound to tracking_host.
            return web.json({"departments": counters.totals(table.items())})

    return TrackingApp(app=app, runtime=runtime, agents=agents, counters=table)


def _assignment(app: faust.App) -> set[Any]:
    """The partitions faust's consumer holds; raises until it has started. (`app.consumer`
    would create the consumer if faust has not yet: only faust should.)"""
    if getattr(app, "_consumer", None) is None:
        raise RuntimeError("the consumer is not created yet")
    return set(app.consumer.assignment())


def _follow(app: faust.App, runtime: TrackingRuntime, stream: Stream, topic: str) -> Any:
    """An agent that records every message of one topic, in partition order, and counts
    what each recorded event changed."""

    async def follow(events: faust.StreamT) -> None:
        assert runtime.continuity is not None
        continuity = runtime.continuity
        # faust acks a batch's events once the body is done with it (take_events).
        within = runtime.settings.tracking_batch_within_seconds
        async for batch in events.take_events(BATCH_MAX, within=within):
            # Returns once these records (and any the consumer skipped before them) are
            # recorded, found duplicates, deferred or parked: only then may faust ack.
            await _to_completion(
                _paced(
                    runtime.pacing,
                    continuity.process_batch([inbound(event.message) for event in batch]),
                    newest_by_partition(
                        (e.message.topic, e.message.partition, e.message.timestamp) for e in batch
                    ),
                )
            )

    # faust labels an agent by its function's name in logs and sensors.
    follow.__name__ = follow.__qualname__ = f"track_{stream.name.lower()}"
    channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
    return app.agent(channel, name=f"tracking-{stream.value}")(follow)


async def _paced(
    pacing: CausePacing | None, work: Awaitable[None], newest: dict[Partition, float]
) -> None:
    """`work` (a batch recorded) once its causes' agents have recorded what is older
    (pacing.py), and the pacing told. Pacing only saves work: a fault of its own is
    logged and the batch recorded all the same."""
    if pacing is not None:
        try:
            await pacing.until_causes_recorded(newest)
        except Exception as exc:
            log.warning("batch not paced", error=f"{type(exc).__name__}: {exc}")
    await work
    if pacing is not None:
        try:
            await pacing.recorded(newest)
        except Exception as exc:
            log.warning("pacing not told of a batch", error=f"{type(exc).__name__}: {exc}")


def _cause_pacing(app: faust.App, runtime: TrackingRuntime) -> CausePacing:
    """Pacing on the topics of `runtime`'s prefix: a cause partition's position is
    this process's progress in it (stored progress until it has recorded any) and the
    consumer's high-water mark; unknown unless the consumer holds it."""
    topics = stream_topics(runtime.settings)
    stored: dict[Partition, int] = {}

    async def position_of(partition: Partition) -> tuple[int | None, int | None]:
        continuity, progress = runtime.continuity, runtime.progress
        try:
            tp = TP(*partition)
            if continuity is None or progress is None or tp not in _assignment(app):
                return None, None
            highwater = app.consumer.highwater(tp)
        except Exception:  # not started, or the partition just taken away: no pacing
            return None, None
        next_offset = continuity.next_offset.get(partition)
        if next_offset is None:
            if partition not in stored:
                try:
                    # Read once, without load_progress's retries: pacing never waits
                    # for Postgres.
                    found = await progress.next_offset(*partition)
                except Exception:  # Postgres away: no pacing; recording will retry
                    return None, None
                stored[partition] = BEGINNING if found is None else found
            next_offset = stored[partition]
        return next_offset, highwater

    return CausePacing(
        causes={
            topics[stream]: tuple(topics[cause] for cause in causes)
            for stream, causes in CAUSE_STREAMS.items()
        },
        position_of=position_of,
    )


async def _to_completion(work: Awaitable[None]) -> None:
    """Await `work` to its end even when the agent is cancelled meanwhile.

    faust cancels its agents on a rebalance and on stop, and then acks the event in hand
    in a `finally`, recorded or not; so the cancellation is held back until the event is
    done, and raised then.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


async def _handle(
    runtime: TrackingRuntime, table: Any, record: Inbound, *, released: bool = False
) -> Outcome:
    """Record one message on its timeline, count what it changed, then try the deferred
    events it may be the cause of (`released`: a deferred one tried again)."""
    outcome = await runtime.recorder.process(record, released=released)
    if outcome is Outcome.DEFERRED and not released:
        # What it waits for may have been recorded since it was found missing
        # (`release_many`'s just_deferred).
        await runtime.release(record)
    if outcome in (Outcome.PARKED, Outcome.DEFERRED):
        return outcome
    await _counted(runtime, table, [record])
    if not released:
        await runtime.release(record)
    return outcome


async def _handle_batch(
    runtime: TrackingRuntime, table: Any, records: Sequence[Inbound]
) -> list[Outcome]:
    """Record a run of one partition's messages (`_handle` for each, with one
    transaction): count what they changed, then try the deferred events of their
    applications, once per application, after the whole run."""
    outcomes = await runtime.recorder.process_many(records)
    handled: list[Inbound] = []
    deferred: list[Inbound] = []
    for record, outcome in zip(records, outcomes, strict=True):
        if outcome is Outcome.DEFERRED:
            deferred.append(record)
        if outcome not in (Outcome.PARKED, Outcome.DEFERRED):
            handled.append(record)
    await _counted(runtime, table, handled)
    await runtime.release_many(handled, just_deferred=deferred)
    return outcomes


async def _counted(runtime: TrackingRuntime, table: Any, records: Sequence[Inbound]) -> None:
    """Count messages of one partition recorded, or found duplicates, and what they
    changed: each live counter the run changed is written once (one changelog record per
    counter and run, not per message; a drain's run changes a few counters many times)."""
    if not records:
        return
    runtime.counters.handled.inc(len(records))
    steps: list[tuple[str, int, dict[str, int]]] = []
    for record in records:
        try:
            steps.extend(await _changes(runtime, record))
        except Exception as exc:
            # The event is recorded; the live counters are best effort. An exception
            # escaping here would crash the faust agent, which then acks the event in hand.
            _not_counted(exc, record)
    try:
        for key, value in counters.counted_run(table.get, steps).items():
            table[key] = value
    except Exception as exc:
        _not_counted(exc, records[-1])


def _not_counted(exc: Exception, record: Inbound) -> None:
    log.warning(
        "live counters not updated",
        error=f"{type(exc).__name__}: {exc}",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


async def _changes(
    runtime: TrackingRuntime, record: Inbound
) -> list[tuple[str, int, dict[str, int]]]:
    """The event's change to the live counters, as (table key, offset, change) (counted
    inside the stream: the changelog is flushed before the source offset is committed)."""
    recorded_id = event_id(record)  # the recorder has just decoded the whole message
    if recorded_id is None:  # pragma: no cover - it was recorded, so it has an id
        return []
    # Postgres may blip: the change is deterministic, so retrying is safe.
    change = await retry_forever(
        lambda: runtime.transition(
            recorded_id, topic=record.topic, partition=record.partition, offset=record.offset
        ),
        what="live counters",
        initial=runtime.settings.tracking_retry_initial_seconds,
        maximum=runtime.settings.tracking_retry_max_seconds,
        log_fields={"topic": record.topic, "offset": record.offset},
    )
    if change is None:
        return []
    return [
        (counters.table_key(record.topic, record.partition, department), record.offset, delta)
        for department, delta in counters.deltas(*change).items()
    ]


def run_worker(settings: TrackingSettings) -> None:
    """Run the faust worker until SIGINT/SIGTERM (blocks; exits the process)."""
    serve_metrics(
        settings.tracking_agent_metrics_port, host=settings.tracking_host, process="tracking-agent"
    )
    # uvloop, also for the loop of faust's consumer thread (mode makes it with
    # asyncio.new_event_loop): about 6 % less of the agent's CPU per event than the
    # stdlib loop, a small effect (seven pairs, docs/performance.md).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    tracking = create_tracking_app(settings)
    worker = faust.Worker(
        tracking.app,
        tracking.runtime,
        loglevel=settings.log_level.lower(),
        loop=loop,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
