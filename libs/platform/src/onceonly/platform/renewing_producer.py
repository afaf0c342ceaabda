"""An idempotent producer that starts afresh after a failed delivery.

aiokafka numbers a batch's records (the idempotent producer's sequence) when the batch
leaves for the broker, and does not take the numbers back when the batch fails: expired
with no leader, timed out, refused. Every later batch to that partition then has a gap
before it, and the broker answers each with OutOfOrderSequenceNumber, for as long as the
client lives. Kafka's Java client bumps its epoch in this case; aiokafka does not.

Seen in the replicated fault-injection run of 2026-12-05: after an unclean leader
election one batch expired without a leader, and the workflow worker's producer failed
every publish of that partition for four minutes (46 attempts) until the run gave up.

`RenewingProducer` wraps the client: a failed delivery marks it stale, and the next send
first starts a new client (a new producer id, sequences from 0) and retires the old one.
The failed send itself still fails, so its caller retries it as before (an activity, the
relay's outbox); the retry goes out on the new client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from onceonly.platform.kafka_ports import Headers, Producer

log = structlog.get_logger(__name__)


class RenewingProducer:
    """A `Producer` over clients made by `factory`, renewed after a failed delivery."""

    def __init__(self, factory: Callable[[], Producer]) -> None:
        self._factory = factory
        self._client = factory()
        # Which client a send went out on: a late failure of a retired client's send
        # must not renew the new one.
        self._generation = 0
        self._stale = False
        self._renewing = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def generation(self) -> int:
        """How many times the client has been renewed."""
        return self._generation

    async def start(self) -> None:
        await self._client.start()

    async def stop(self) -> None:
        await self._client.stop()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> Awaitable[Any]:
        if self._stale:
            await self._renew()
        generation = self._generation
        ack = await self._client.send(
            topic,
            value=value,
            key=key,
            partition=partition,
            timestamp_ms=timestamp_ms,
            headers=headers,
        )
        # A callback, not a wrapping task: nothing extra per record on the happy path.
        asyncio.ensure_future(ack).add_done_callback(lambda done: self._delivered(done, generation))
        return ack

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> Any:
        return await (await self.send(topic, value, key, partition, timestamp_ms, headers))

    def _delivered(self, ack: asyncio.Future[Any], generation: int) -> None:
        if ack.cancelled() or ack.exception() is None:
            return
        if generation == self._generation and not self._stale:
            self._stale = True
            log.warning(
                "kafka delivery failed; the producer starts afresh before its next send",
                error=repr(ack.exception()),
            )

    async def _renew(self) -> None:
        async with self._renewing:
            if not self._stale:
                return  # another send renewed it while this one waited
            fresh = self._factory()
            try:
                await fresh.start()
            except BaseException:
                # Brokers unreachable: stay stale, so a later send tries again.
                with contextlib.suppress(Exception):
                    await fresh.stop()
                raise
            retired, self._client = self._client, fresh
            self._generation += 1
            self._stale = False
            # The old client's pending batches still finish or fail on their own; its
            # stop waits for them, which the next send must not.
            task = asyncio.create_task(self._retire(retired))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            log.info("kafka producer renewed", generation=self._generation)

    @staticmethod
    async def _retire(client: Producer) -> None:
        with contextlib.suppress(Exception):
            await client.stop()
