"""RenewingProducer: a failed delivery renews the client before the next send, once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, LeaderNotAvailableError

from onceonly.platform.renewing_producer import RenewingProducer


class FakeClient:
    """A client whose sends are acknowledged or failed by the test."""

    def __init__(self, name: int, *, start_fails: bool = False) -> None:
        self.name = name
        self.start_fails = start_fails
        self.started = self.stopped = False
        self.acks: list[asyncio.Future[Any]] = []

    async def start(self) -> None:
        if self.start_fails:
            raise KafkaConnectionError("no broker")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, **_: Any) -> asyncio.Future[Any]:
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack

    async def send_and_wait(self, topic: str, **_: Any) -> Any:
        return await (await self.send(topic))


class Factory:
    def __init__(self) -> None:
        self.clients: list[FakeClient] = []
        self.next_start_fails = False

    def __call__(self) -> FakeClient:
        client = FakeClient(len(self.clients), start_fails=self.next_start_fails)
        self.clients.append(client)
        return client


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def failed_delivery(producer: RenewingProducer, factory: Factory) -> None:
    """A send on the current client whose delivery fails."""
    ack = await producer.send("t", value=b"v")
    factory.clients[-1].acks[-1].set_exception(LeaderNotAvailableError())
    await asyncio.gather(ack, return_exceptions=True)
    await settle()


@pytest.fixture
async def made() -> tuple[RenewingProducer, Factory]:
    factory = Factory()
    producer = RenewingProducer(factory)
    await producer.start()
    return producer, factory


async def test_acknowledged_sends_keep_one_client(made: tuple[RenewingProducer, Factory]) -> None:
    producer, factory = made
    for _ in range(3):
        ack = await producer.send("t", value=b"v")
        factory.clients[0].acks[-1].set_result("ok")
        assert await ack == "ok"
    assert len(factory.clients) == 1
    assert producer.generation == 0


async def test_a_failed_delivery_renews_the_client_before_the_next_send(
    made: tuple[RenewingProducer, Factory],
) -> None:
    producer, factory = made
    ack = await producer.send("t", value=b"v")
    factory.clients[0].acks[0].set_exception(LeaderNotAvailableError())
    with pytest.raises(LeaderNotAvailableError):
        await ack  # the failed send still fails: its caller retries it
    await settle()
    await producer.send("t", value=b"retry")
    await settle()
    assert [c.started for c in factory.clients] == [True, True]
    assert factory.clients[0].stopped  # retired
    assert len(factory.clients[1].acks) == 1  # the retry went out on the new client
    assert producer.generation == 1


async def test_many_failures_of_one_client_renew_it_once(
    made: tuple[RenewingProducer, Factory],
) -> None:
    producer, factory = made
    acks = [await producer.send("t", value=b"v") for _ in range(5)]
    for ack in factory.clients[0].acks:
        ack.set_exception(LeaderNotAvailableError())
    await asyncio.gather(*acks, return_exceptions=True)
    await asyncio.gather(*(producer.send("t", value=b"again") for _ in range(5)))
    assert len(factory.clients) == 2
    assert producer.generation == 1


async def test_a_retired_clients_late_failure_does_not_renew_the_new_one(
    made: tuple[RenewingProducer, Factory],
) -> None:
    producer, factory = made
    first, second = [await producer.send("t", value=b"v") for _ in range(2)]
    factory.clients[0].acks[0].set_exception(LeaderNotAvailableError())
    await asyncio.gather(first, return_exceptions=True)
    await producer.send("t", value=b"retry")  # renewed: client 1
    factory.clients[0].acks[1].set_exception(LeaderNotAvailableError())  # late, client 0
    await asyncio.gather(second, return_exceptions=True)
    await producer.send("t", value=b"next")
    assert len(factory.clients) == 2


async def test_a_renewal_that_cannot_start_fails_the_send_and_is_tried_again(
    made: tuple[RenewingProducer, Factory],
) -> None:
    producer, factory = made
    await failed_delivery(producer, factory)
    factory.next_start_fails = True
    with pytest.raises(KafkaConnectionError):
        await producer.send("t", value=b"retry")
    assert factory.clients[1].stopped  # the client that could not start is closed
    factory.next_start_fails = False
    await producer.send("t", value=b"retry again")
    assert factory.clients[2].started
    assert len(factory.clients[2].acks) == 1
    assert producer.generation == 1


async def test_stop_waits_for_the_retired_clients(made: tuple[RenewingProducer, Factory]) -> None:
    producer, factory = made
    await failed_delivery(producer, factory)
    await producer.send("t", value=b"retry")
    await producer.stop()
    assert all(c.stopped for c in factory.clients)
