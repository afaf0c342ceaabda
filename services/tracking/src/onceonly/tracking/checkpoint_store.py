"""The Postgres side of timeline checkpoints: making one over every chain head, keeping
its leaves for proofs, and reading the latest back (parameterised SQL only)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog

from onceonly.platform.elicence_signatures import PublishedKeys, Signer
from onceonly.tracking import merkle
from onceonly.tracking.checkpoint import (
    CheckpointInvalid,
    CheckpointPayload,
    Coverage,
    Head,
    SignedCheckpoint,
    open_checkpoint,
    sign,
    sorted_heads,
    tree_of,
)

log = structlog.get_logger(__name__)

# Serialises the making of checkpoints across agents and the CLI (any constant works;
# this one reads "checkpt" in ASCII).
_LOCK = 0x636865636B707400


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    number: int
    signed: SignedCheckpoint


@dataclass(frozen=True, slots=True)
class MadeCheckpoint:
    payload: CheckpointPayload
    signed: SignedCheckpoint
    # Heads that did not extend the previous checkpoint's: their previous leaf is kept,
    # so that a chain rewritten in the database is never signed as it now is.
    held_back: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LatestCoverage:
    """The latest checkpoint, opened, and one application's place in it."""

    payload: CheckpointPayload
    signed: SignedCheckpoint
    coverage: Coverage | None  # None: the checkpoint has no leaf for the application


class StoredCheckpointInvalid(Exception):
    """The latest stored checkpoint does not verify, or its leaves do not give its root."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"checkpoint {number}: {reason}")
        self.number = number
        self.reason = reason


class TreeCache:
    """The latest checkpoint's tree and leaf index, built once per checkpoint and kept
    by the process (an API builds it once a minute, not once per verification)."""

    def __init__(self) -> None:
        self.entry: tuple[int, merkle.MerkleTree, dict[str, tuple[int, Head]]] | None = None


class CheckpointStore:
    """Checkpoints in `tracking.timeline_checkpoints` and their leaves."""

    def __init__(self, pool: asyncpg.Pool, trees: TreeCache | None = None) -> None:
        self._pool = pool
        self._trees = trees or TreeCache()

    async def make(
        self,
        *,
        signer: Signer,
        keys: PublishedKeys,
        slot: datetime,
        now: datetime,
        keep_leaves: int,
    ) -> MadeCheckpoint | None:
        """The checkpoint of `slot` over every chain head, signed by `signer`; None when
        `slot` has one already (another agent made it) or no head moved since the last.

        Refuses (StoredCheckpointInvalid) when the previous checkpoint does not verify
        under `keys`: the next one would build on leaves nobody signed.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM tracking.timeline_checkpoints WHERE slot = $1)",
                slot,
            ):
                return None
            previous = await conn.fetchrow(
                "SELECT number, payload, signature FROM tracking.timeline_checkpoints"
                " ORDER BY number DESC LIMIT 1"
            )
            rows = await conn.fetch(
                "SELECT application_code, last_seq, last_hash FROM tracking.timeline_heads"
                " WHERE last_seq > 0"
            )
            kept: dict[str, Head] = {}
            held_back: list[str] = []
            number = 1
            if previous is not None:
                number = previous["number"] + 1
                earlier = _stored(previous)
                # Its signature and leaves hold, or nothing is built on it.
                await self._tree_of(conn, earlier, keys)
                # Each earlier head must still be on its chain, at its seq, with its hash.
                for row in await conn.fetch(_NOT_EXTENDING, earlier.number):
                    code = row["application_code"]
                    kept[code] = Head(code, row["head_seq"], row["head_hash"])
                    held_back.append(code)
            if held_back:
                log.error(
                    "chain heads do not extend the last checkpoint: their signed head is kept",
                    checkpoint=number - 1,
                    applications=held_back[:20],
                    count=len(held_back),
                )
            # A tree over every head takes a while (a quarter of a second at 86,000): in a
            # thread, so that the agent's loop goes on recording meanwhile.
            payload, signed, leaves = await asyncio.to_thread(
                _signed_leaves, rows, kept, signer=signer, number=number, slot=slot, now=now
            )
            # Nothing moved (a held-back head is held at the same leaf): nothing to sign.
            if previous is not None:
                unchanged = CheckpointPayload.parse(bytes(previous["payload"])).root
                if unchanged == payload.root:
                    return None
            await conn.execute(
                """
                INSERT INTO tracking.timeline_checkpoints
                    (number, slot, made_at, size, root, payload, signature, held_back)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                number,
                slot,
                now,
                payload.size,
                payload.root,
                signed.payload,
                signed.signature,
                len(held_back),
            )
            await conn.copy_records_to_table(
                "timeline_checkpoint_leaves",
                schema_name="tracking",
                columns=["number", "application_code", "head_seq", "head_hash"],
                records=leaves,
            )
            await conn.execute(
                "DELETE FROM tracking.timeline_checkpoint_leaves WHERE number <= $1",
                number - keep_leaves,
            )
        return MadeCheckpoint(payload, signed, tuple(held_back))

    async def latest(self, conn: asyncpg.Connection | None = None) -> StoredCheckpoint | None:
        row = await (conn or self._pool).fetchrow(
            "SELECT number, payload, signature FROM tracking.timeline_checkpoints"
            " ORDER BY number DESC LIMIT 1"
        )
        return None if row is None else _stored(row)

    async def coverage(
        self, application_code: str, keys: PublishedKeys, conn: asyncpg.Connection
    ) -> LatestCoverage | None:
        """The latest checkpoint and `application_code`'s proof in it (None: none made
        yet), read on `conn` (the snapshot the chain's rows were read in: a checkpoint
        made after it covers entries that snapshot does not show). Raises
        StoredCheckpointInvalid when it does not verify under `keys` or its stored
        leaves do not give its signed root."""
        latest = await self.latest(conn)
        if latest is None:
            return None
        payload, tree, index = await self._tree_of(conn, latest, keys)
        found = index.get(application_code)
        if found is None:
            return LatestCoverage(payload, latest.signed, None)
        position, head = found
        return LatestCoverage(payload, latest.signed, Coverage(head, tree.proof(position)))

    async def unpublished(self) -> list[StoredCheckpoint]:
        rows = await self._pool.fetch(
            "SELECT number, payload, signature FROM tracking.timeline_checkpoints"
            " WHERE published_at IS NULL ORDER BY number"
        )
        return [
            StoredCheckpoint(
                r["number"], SignedCheckpoint(bytes(r["payload"]), bytes(r["signature"]))
            )
            for r in rows
        ]

    async def mark_published(self, number: int) -> None:
        await self._pool.execute(
            "UPDATE tracking.timeline_checkpoints SET published_at = now()"
            " WHERE number = $1 AND published_at IS NULL",
            number,
        )

    async def _tree_of(
        self, conn: asyncpg.Connection, stored: StoredCheckpoint, keys: PublishedKeys
    ) -> tuple[CheckpointPayload, merkle.MerkleTree, dict[str, tuple[int, Head]]]:
        try:
            payload = open_checkpoint(stored.signed, keys)
        except CheckpointInvalid as exc:
            raise StoredCheckpointInvalid(stored.number, str(exc)) from None
        if payload.number != stored.number:
            raise StoredCheckpointInvalid(stored.number, f"it signs number {payload.number}")
        cached = self._trees.entry
        if (
            cached is not None
            and cached[0] == stored.number
            and cached[1].root.hex() == payload.root
        ):
            return payload, cached[1], cached[2]
        rows = await conn.fetch(
            "SELECT application_code, head_seq, head_hash FROM tracking.timeline_checkpoint_leaves"
            ' WHERE number = $1 ORDER BY application_code COLLATE "C"',
            stored.number,
        )
        try:
            tree, index = await asyncio.to_thread(_tree_of_leaves, rows)
        except ValueError:
            raise StoredCheckpointInvalid(
                stored.number, "its leaves repeat an application"
            ) from None
        if tree.size != payload.size or tree.root.hex() != payload.root:
            raise StoredCheckpointInvalid(
                stored.number, "its stored leaves do not give its signed root"
            )
        self._trees.entry = (stored.number, tree, index)
        return payload, tree, index


def _signed_leaves(
    rows: list[asyncpg.Record],
    kept: dict[str, Head],
    *,
    signer: Signer,
    number: int,
    slot: datetime,
    now: datetime,
) -> tuple[CheckpointPayload, SignedCheckpoint, list[tuple[int, str, int, str]]]:
    """The checkpoint over the chain heads `rows` (those in `kept` at their earlier
    head), signed, and its leaves as rows to store."""
    heads = {row[0]: Head(row[0], row[1], row[2]) for row in rows}
    heads.update(kept)
    ordered = sorted_heads(list(heads.values()))
    payload, signed = sign(ordered, signer=signer, number=number, slot=slot, made_at=now)
    return payload, signed, [(number, h.application_code, h.seq, h.hash) for h in ordered]


def _tree_of_leaves(
    rows: list[asyncpg.Record],
) -> tuple[merkle.MerkleTree, dict[str, tuple[int, Head]]]:
    """A stored checkpoint's tree and leaf index; ValueError if a leaf repeats."""
    heads = sorted_heads([Head(row[0], row[1], row[2]) for row in rows])
    return tree_of(heads), {head.application_code: (i, head) for i, head in enumerate(heads)}


def _stored(row: asyncpg.Record) -> StoredCheckpoint:
    return StoredCheckpoint(
        row["number"], SignedCheckpoint(bytes(row["payload"]), bytes(row["signature"]))
    )


# Heads of checkpoint $1 that the chains no longer hold: the entry at the signed seq is
# gone or has another hash, or the head went back below it.
_NOT_EXTENDING = """
    SELECT l.application_code, l.head_seq, l.head_hash
      FROM tracking.timeline_checkpoint_leaves l
      LEFT JOIN tracking.timeline t
        ON t.application_code = l.application_code AND t.seq = l.head_seq
      LEFT JOIN tracking.timeline_heads h ON h.application_code = l.application_code
     WHERE l.number = $1
       AND (t.hash IS DISTINCT FROM l.head_hash OR COALESCE(h.last_seq, 0) < l.head_seq)
"""
