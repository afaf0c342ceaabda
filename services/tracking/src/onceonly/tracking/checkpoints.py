"""Making and publishing timeline checkpoints: what the agent does once per cadence slot
and `onceonly-tracking checkpoint` does on demand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import checkpoint_pb2
from onceonly.platform.elicence_signatures import PublishedKeys, Signer
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.topics import Stream, topic_name
from onceonly.tracking.checkpoint import CheckpointPayload, SignedCheckpoint, slot_of
from onceonly.tracking.checkpoint_store import CheckpointStore, MadeCheckpoint

log = structlog.get_logger(__name__)

# The Kafka key and CloudEvents subject of every checkpoint: one partition keeps them in
# order. Never an application code (those have digits and dashes).
CHECKPOINT_KEY = "timeline-checkpoints"
SOURCE = "/onceonly/tracking/checkpoints"
_IDS = uuid.UUID("6d1f3c52-8f0e-4a51-9a53-5d0b1c1f0a11")


def checkpoint_topic(prefix: str) -> str:
    return topic_name(prefix, Stream.TIMELINE_CHECKPOINTS)


def checkpoint_envelope(signed: SignedCheckpoint) -> Envelope:
    """The event of a checkpoint; the same id whoever publishes it (consumers dedupe)."""
    payload = CheckpointPayload.parse(signed.payload)
    message = checkpoint_pb2.TimelineCheckpoint(
        number=payload.number,
        slot=_timestamp(payload.slot),
        made_at=_timestamp(payload.made_at),
        size=payload.size,
        root=payload.root,
        key_id=payload.key_id,
        algorithm=payload.algorithm,
        payload=signed.payload,
        signature=signed.signature,
    )
    return new_envelope(
        message,
        source=SOURCE,
        application_code=CHECKPOINT_KEY,
        event_id=str(uuid.uuid5(_IDS, f"{payload.number}:{payload.root}")),
        time=payload.made_at,
    )


def signed_of(message: checkpoint_pb2.TimelineCheckpoint) -> SignedCheckpoint:
    """What a reader of the topic verifies: the signed bytes, not the repeated fields."""
    return SignedCheckpoint(bytes(message.payload), bytes(message.signature))


@dataclass(frozen=True, slots=True)
class Round:
    """What one round did: the checkpoint made (None: slot taken or nothing moved) and
    the numbers published (this one and any left unpublished before)."""

    made: MadeCheckpoint | None
    published: tuple[int, ...]


class Checkpointer:
    """Makes the checkpoint of a slot and publishes every stored one not yet on Kafka."""

    def __init__(
        self,
        store: CheckpointStore,
        producer: AIOKafkaProducer,
        *,
        topic: str,
        signer: Signer,
        keys: PublishedKeys,
        keep_leaves: int,
    ) -> None:
        self._store = store
        self._producer = producer
        self._topic = topic
        self._signer = signer
        self._keys = keys
        self._keep_leaves = keep_leaves

    async def run_once(
        self,
        *,
        now: datetime | None = None,
        every_seconds: float = 60.0,
        slot: datetime | None = None,
    ) -> Round:
        """The checkpoint of `now`'s cadence slot (or of `slot`), then every unpublished one."""
        now = now or datetime.now(UTC)
        made = await self._store.make(
            signer=self._signer,
            keys=self._keys,
            slot=slot or slot_of(now, every_seconds),
            now=now,
            keep_leaves=self._keep_leaves,
        )
        if made is not None:
            log.info(
                "timeline checkpoint made",
                number=made.payload.number,
                applications=made.payload.size,
                root=made.payload.root,
                held_back=len(made.held_back),
            )
        published = []
        for stored in await self._store.unpublished():
            envelope = checkpoint_envelope(stored.signed)
            await self._producer.send_and_wait(
                self._topic,
                value=envelope.data,
                key=CHECKPOINT_KEY.encode(),
                headers=envelope.headers(),
            )
            await self._store.mark_published(stored.number)
            published.append(stored.number)
        return Round(made, tuple(published))


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp
