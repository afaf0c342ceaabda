"""The agent's own record of how far each partition was processed (continuity.py)."""

from __future__ import annotations

import asyncpg


class PartitionProgressStore:
    """`tracking.partition_progress`; parameterised SQL only."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def next_offset(self, topic: str, partition: int) -> int | None:
        value = await self._pool.fetchval(
            "SELECT next_offset FROM tracking.partition_progress"
            " WHERE topic = $1 AND partition = $2",
            topic,
            partition,
        )
        return None if value is None else int(value)

    async def save(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """Store next offsets; a stored value never moves back."""
        await self._pool.executemany(
            """
            INSERT INTO tracking.partition_progress AS p (topic, partition, next_offset)
            VALUES ($1, $2, $3)
            ON CONFLICT (topic, partition) DO UPDATE
                SET next_offset = GREATEST(p.next_offset, EXCLUDED.next_offset),
                    updated_at = now()
            """,
            [(topic, partition, offset) for (topic, partition), offset in next_offsets.items()],
        )
