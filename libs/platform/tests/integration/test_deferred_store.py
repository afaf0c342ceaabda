"""One contract for the deferred-event stores, run against PostgreSQL and the in-memory
store that unit tests use: arrival order per key, the same record kept once, places
per key, removal by id, and consumers kept apart."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from onceonly.platform.deferral import DeferredRecord, DeferredStore, MemoryDeferredStore
from onceonly.platform.deferral_store import PostgresDeferredStore, refresh_deferred_gauges
from onceonly.platform.testing import migrated_pool, test_database_url

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(params=["postgres", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[DeferredStore]:
    if request.param == "memory":
        yield MemoryDeferredStore()
        return
    async with migrated_pool(
        test_database_url(), component="platform", package="onceonly.platform"
    ) as pool:
        yield PostgresDeferredStore(pool)


def deferred(consumer: str, key: bytes, topic: str, offset: int) -> DeferredRecord:
    return DeferredRecord(
        consumer=consumer,
        key=key,
        topic=topic,
        partition=offset % 2,
        offset=offset,
        value=f"value {offset}".encode(),
        headers=(("ce_id", f"id-{offset}".encode()), ("empty", b"")),
        waiting_for="its submission",
        deferred_at=datetime(2026, 12, 4, 9, offset, tzinfo=UTC),
    )


async def test_records_come_back_in_arrival_order_per_key(store: DeferredStore) -> None:
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    for offset, (key, topic) in enumerate(
        [(b"K", "updates"), (b"J", "updates"), (b"K", "submissions"), (b"K", "updates")]
    ):
        await store.add(deferred(consumer, key, topic, offset))
    found = await store.of_key(consumer, b"K")
    assert [(r.topic, r.offset) for r in found] == [
        ("updates", 0),
        ("submissions", 2),
        ("updates", 3),
    ]
    assert found[0].headers == (("ce_id", b"id-0"), ("empty", b""))
    assert found[0].value == b"value 0"
    assert found[0].deferred_at == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert found[0].id < found[1].id < found[2].id
    assert await store.places(consumer) == {
        b"K": {("updates", 0), ("submissions", 0), ("updates", 1)},
        b"J": {("updates", 1)},
    }


async def test_several_keys_are_read_at_once_in_arrival_order(store: DeferredStore) -> None:
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    for offset, key in enumerate([b"K", b"J", b"L", b"K", b"J"]):
        await store.add(deferred(consumer, key, "updates", offset))
    await store.add(deferred(f"{consumer}-other", b"K", "updates", 9))
    found = await store.of_keys(consumer, [b"J", b"K", b"M"])
    assert [(r.key, r.offset) for r in found] == [(b"K", 0), (b"J", 1), (b"K", 3), (b"J", 4)]
    assert await store.of_keys(consumer, []) == []


async def test_a_record_added_twice_is_kept_once(store: DeferredStore) -> None:
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    await store.add(deferred(consumer, b"K", "updates", 4))
    await store.add(deferred(consumer, b"K", "updates", 4))
    assert len(await store.of_key(consumer, b"K")) == 1


async def test_records_added_together_keep_their_order_and_are_kept_once(
    store: DeferredStore,
) -> None:
    consumer = f"c-{uuid.uuid4().hex[:8]}"
    await store.add(deferred(consumer, b"K", "updates", 1))
    await store.add_many(
        [deferred(consumer, b"K", "updates", n) for n in (3, 1, 2)]  # 1 again: kept once
    )
    await store.add_many([])
    found = await store.of_key(consumer, b"K")
    assert [r.offset for r in found] == [1, 3, 2]
    assert found[0].id < found[1].id < found[2].id
    assert found[1].headers == (("ce_id", b"id-3"), ("empty", b""))


async def test_removal_by_id_and_consumers_apart(store: DeferredStore) -> None:
    mine, theirs = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    await store.add(deferred(mine, b"K", "updates", 1))
    await store.add(deferred(mine, b"K", "updates", 2))
    await store.add(deferred(theirs, b"K", "updates", 1))
    first, second = await store.of_key(mine, b"K")
    [other] = await store.of_key(theirs, b"K")
    await store.remove(mine, [first.id, other.id])  # not theirs to remove
    assert [r.offset for r in await store.of_key(mine, b"K")] == [2]
    assert len(await store.of_key(theirs, b"K")) == 1
    await store.remove(mine, [second.id])
    assert await store.places(mine) == {}
    assert await store.of_key(mine, b"K") == []


async def test_the_gauges_count_what_waits_and_for_how_long() -> None:
    waiting, idle = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    async with migrated_pool(
        test_database_url(), component="platform", package="onceonly.platform"
    ) as pool:
        store = PostgresDeferredStore(pool)
        for offset in (1, 2):
            await store.add(deferred(waiting, b"K", "updates", offset))  # 09:01 and 09:02
        await refresh_deferred_gauges(pool, [waiting, idle])
        stored = REGISTRY.get_sample_value("onceonly_deferred_events_stored", {"consumer": waiting})
        oldest = REGISTRY.get_sample_value(
            "onceonly_deferred_events_oldest_seconds", {"consumer": waiting}
        )
        now = await pool.fetchval("SELECT now()")
        assert stored == 2
        expected = (now - datetime(2026, 12, 4, 9, 1, tzinfo=UTC)).total_seconds()
        assert oldest == pytest.approx(expected, abs=5)
        assert REGISTRY.get_sample_value("onceonly_deferred_events_stored", {"consumer": idle}) == 0
        await store.remove(waiting, [r.id for r in await store.of_key(waiting, b"K")])
        await refresh_deferred_gauges(pool, [waiting])
        assert (
            REGISTRY.get_sample_value("onceonly_deferred_events_stored", {"consumer": waiting}) == 0
        )
