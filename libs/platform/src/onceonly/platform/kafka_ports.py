"""The two ports through which every service talks to Kafka.

`Producer` and `Consumer` are the parts of aiokafka's `AIOKafkaProducer` and
`AIOKafkaConsumer` that the services use, so the aiokafka clients are the adapters to a
real broker as they are (`build_producer`, and `EventConsumer`'s default consumer), and
`onceonly.platform.memory_kafka` is the in-memory one for unit tests. One contract suite
(libs/platform/tests/integration/test_kafka_contract.py) runs against both.

Records are aiokafka's `ConsumerRecord` (a plain dataclass) in both, and partitions its
`TopicPartition` (a named tuple).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from aiokafka import ConsumerRecord, TopicPartition

Headers = Sequence[tuple[str, bytes]]


class Producer(Protocol):
    """Sends records; `send` returns once the record is queued, and the awaitable it
    returns completes with the broker's acknowledgement."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> Awaitable[Any]: ...

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> Any: ...


class Consumer(Protocol):
    """A member of a consumer group that commits offsets itself."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]: ...

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    async def seek_to_committed(
        self, *partitions: TopicPartition
    ) -> dict[TopicPartition, int | None]: ...

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...


class Located(Protocol):
    """Where a record came from and what it held: what a dead letter keeps of it
    (aiokafka's ConsumerRecord, tracking's Inbound)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
