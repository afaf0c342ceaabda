"""Two relays over one outbox, on the real Postgres: while one relay's batch is under
way the other claims nothing, not even other applications' rows, so that the next batch
starts only after the previous one is acknowledged and committed, and each
application's events reach Kafka in the order committed. Another deployment's relay
(another topic prefix) is not held up."""

from __future__ import annotations

import asyncpg
import pytest

from onceonly.events.v1 import application_pb2
from onceonly.intake import outbox
from onceonly.intake.outbox import OutboxRecord
from onceonly.platform.envelope import new_envelope
from onceonly.platform.testing import unique_prefix

pytestmark = pytest.mark.integration


async def queue(pool: asyncpg.Pool, prefix: str, code: str) -> None:
    message = application_pb2.SupplementProvided(application_code=code)
    envelope = new_envelope(message, source="/onceonly/test", application_code=code)
    async with pool.acquire() as conn:
        await outbox.insert(conn, OutboxRecord(f"{prefix}.applicant-updates.v1", envelope))


def codes(rows: list[outbox.PendingRow]) -> list[str]:
    return [row.record.envelope.subject for row in rows]


async def test_one_batch_at_a_time_per_deployment(pool: asyncpg.Pool) -> None:
    prefix, elsewhere = unique_prefix("claims"), unique_prefix("claims")
    first, other = f"{prefix}-A", f"{prefix}-B"
    for code in (first, first, other):
        await queue(pool, prefix, code)
    await queue(pool, elsewhere, f"{elsewhere}-C")

    async with pool.acquire() as one, pool.acquire() as two:
        batch = one.transaction()
        await batch.start()
        held = await outbox.claim_batch(one, topic_prefix=prefix, limit=1)
        assert codes(held) == [first]

        async with two.transaction():
            # Neither the first application's later row nor the other application's.
            assert await outbox.claim_batch(two, topic_prefix=prefix, limit=10) == []
            # Another deployment's rows are another relay's turn.
            assert codes(await outbox.claim_batch(two, topic_prefix=elsewhere, limit=10)) == [
                f"{elsewhere}-C"
            ]

        await outbox.mark_published(one, [row.id for row in held])
        await batch.commit()

        async with two.transaction():
            taken = await outbox.claim_batch(two, topic_prefix=prefix, limit=10)
            assert codes(taken) == [first, other]
            assert taken[0].id > held[0].id
