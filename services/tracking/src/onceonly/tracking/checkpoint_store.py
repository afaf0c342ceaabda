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
    Leaves,
    SignedCheckpoint,
    next_leaves,
    open_checkpoint,
    sign_tree,
    sorted_heads,
)

log = structlog.get_logger(__name__)

# Serialises the making of checkpoints across agents and the CLI (any constant works;
# this one reads "checkpt" in ASCII).
_LOCK = 0x636865636B707400
_SETTLE_CHUNK = 5_000


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
    """The latest checkpoint's leaves and tree, built once per checkpoint and kept by the
    process: an API builds them once a minute, not once per verification, and the agent
    that made a checkpoint builds the next one on them."""

    def __init__(self) -> None:
        self.entry: tuple[int, str, Leaves] | None = None  # number, root (hex), leaves
        self.full_reads = 0  # trees built from every leaf row rather than carried on


class CheckpointStore:
    """Checkpoints in `tracking.timeline_checkpoints` and their leaves.

    Leaves are stored as versions: a row (number, application, seq, hash) is the
    application's leaf from checkpoint `number` on, until a row of a later checkpoint
    for it. A checkpoint writes rows only for the heads that moved since the previous
    one, and finds those through `timeline_heads`' checkpointed seq and hash (an index
    holds the heads that differ from them): its work grows with the heads that moved,
    not with every application in the province (migration 014).
    """

    def __init__(self, pool: asyncpg.Pool, trees: TreeCache | None = None) -> None:
        self._pool = pool
        self.trees = trees or TreeCache()

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
        async with self._pool.acquire() as conn:
            async with conn.transaction():
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
                number, earlier = 1, Leaves([], merkle.MerkleTree([]))
                if previous is not None:
                    number = previous["number"] + 1
                    # Its signature and leaves hold, or nothing is built on it.
                    _, earlier = await self._tree_of(conn, _stored(previous), keys)
                moved = [Head(*row) for row in await conn.fetch(_MOVED_HEADS)]
                plan = next_leaves(moved, earlier, await _hashes_at_leaves(conn, moved, earlier))
                if plan.held_back:
                    log.error(
                        "chain heads do not extend the last checkpoint: their signed head is kept",
                        checkpoint=number - 1,
                        applications=[head.application_code for head in plan.held_back[:20]],
                        count=len(plan.held_back),
                    )
                made = None
                if previous is None or plan.changed:
                    made = await self._insert(
                        conn,
                        earlier,
                        plan.changed,
                        signer=signer,
                        number=number,
                        slot=slot,
                        now=now,
                        keep_leaves=keep_leaves,
                        held_back=len(plan.held_back),
                    )
            # After the commit, in code order as appends lock heads: a head that moved
            # meanwhile no longer matches and stays for the next checkpoint to look at.
            await _settle(conn, plan.settled)
        if made is None:
            return None
        payload, signed, leaves = made
        self.trees.entry = (number, payload.root, leaves)
        held_back = tuple(head.application_code for head in plan.held_back)
        return MadeCheckpoint(payload, signed, held_back)

    async def _insert(
        self,
        conn: asyncpg.Connection,
        earlier: Leaves,
        changed: list[Head],
        *,
        signer: Signer,
        number: int,
        slot: datetime,
        now: datetime,
        keep_leaves: int,
        held_back: int,
    ) -> tuple[CheckpointPayload, SignedCheckpoint, Leaves]:
        # The tree takes a while at province scale: in a thread, so that the agent's
        # loop goes on recording meanwhile.
        leaves = await asyncio.to_thread(earlier.with_heads, changed)
        payload, signed = sign_tree(
            leaves.tree, signer=signer, number=number, slot=slot, made_at=now
        )
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
            held_back,
        )
        await conn.copy_records_to_table(
            "timeline_checkpoint_leaves",
            schema_name="tracking",
            columns=["number", "application_code", "head_seq", "head_hash"],
            records=[(number, h.application_code, h.seq, h.hash) for h in changed],
        )
        # The oldest checkpoint whose proofs are kept holds, for each application, its
        # latest row up to it; the rows those supersede go (each once, when the oldest
        # kept reaches the superseding row's checkpoint).
        await conn.execute(_PRUNE, number - keep_leaves + 1)
        return payload, signed, leaves

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
        payload, leaves = await self._tree_of(conn, latest, keys)
        found = leaves.find(application_code)
        if found is None:
            return LatestCoverage(payload, latest.signed, None)
        position, head = found
        return LatestCoverage(payload, latest.signed, Coverage(head, leaves.tree.proof(position)))

    async def leaves(self, number: int, conn: asyncpg.Connection | None = None) -> list[Head]:
        """The leaves of checkpoint `number` as stored (any order): for each application
        its latest row up to `number`. Complete for the checkpoints whose leaves are
        kept (`keep_leaves`); of an older one, the rows left are not its leaves."""
        return await self._rows(conn or self._pool, after=0, upto=number)

    async def leaf(self, number: int, application_code: str) -> Head | None:
        """An application's leaf in checkpoint `number` (None: not covered by it)."""
        row = await self._pool.fetchrow(
            "SELECT head_seq, head_hash FROM tracking.timeline_checkpoint_leaves"
            " WHERE application_code = $1 AND number <= $2 ORDER BY number DESC LIMIT 1",
            application_code,
            number,
        )
        return None if row is None else Head(application_code, row[0], row[1])

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
    ) -> tuple[CheckpointPayload, Leaves]:
        try:
            payload = open_checkpoint(stored.signed, keys)
        except CheckpointInvalid as exc:
            raise StoredCheckpointInvalid(stored.number, str(exc)) from None
        if payload.number != stored.number:
            raise StoredCheckpointInvalid(stored.number, f"it signs number {payload.number}")
        cached = self.trees.entry
        if cached is not None and cached[:2] == (stored.number, payload.root):
            return payload, cached[2]
        leaves = None
        if cached is not None and cached[0] < stored.number:
            # The rows of the checkpoints since the cached one are what changed.
            changes = await self._rows(conn, after=cached[0], upto=stored.number)
            leaves = await asyncio.to_thread(cached[2].with_heads, changes)
        if leaves is None or not _gives(leaves, payload):
            self.trees.full_reads += 1
            try:
                leaves = await asyncio.to_thread(Leaves.of, await self.leaves(stored.number, conn))
            except ValueError:
                raise StoredCheckpointInvalid(
                    stored.number, "its leaves repeat an application"
                ) from None
        if not _gives(leaves, payload):
            raise StoredCheckpointInvalid(
                stored.number, "its stored leaves do not give its signed root"
            )
        self.trees.entry = (stored.number, payload.root, leaves)
        return payload, leaves

    async def _rows(
        self, conn: asyncpg.Connection | asyncpg.Pool, *, after: int, upto: int
    ) -> list[Head]:
        rows = await conn.fetch(
            "SELECT application_code, head_seq, head_hash FROM tracking.timeline_checkpoint_leaves"
            " WHERE number > $1 AND number <= $2 ORDER BY number",
            after,
            upto,
        )
        # In checkpoint order: a later row for an application replaces an earlier one.
        return list({row[0]: Head(row[0], row[1], row[2]) for row in rows}.values())


def _gives(leaves: Leaves, payload: CheckpointPayload) -> bool:
    return leaves.tree.size == payload.size and leaves.tree.root.hex() == payload.root


async def _hashes_at_leaves(
    conn: asyncpg.Connection, moved: list[Head], earlier: Leaves
) -> dict[str, str | None]:
    """For each moved head with an earlier leaf, the hash its chain has now at the
    leaf's seq (None: no entry there)."""
    leaves = [found[1] for head in moved if (found := earlier.find(head.application_code))]
    if not leaves:
        return {}
    rows = await conn.fetch(
        _HASHES_AT,
        [leaf.application_code for leaf in leaves],
        [leaf.seq for leaf in leaves],
    )
    return {row[0]: row[1] for row in rows}


async def _settle(conn: asyncpg.Connection, heads: list[Head]) -> None:
    """Mark `heads` as the checkpoints hold them (those still at that seq and hash), a
    chunk per transaction: the first checkpoint after migration 014 settles every head,
    and appends wait for the heads a transaction locks."""
    ordered = sorted_heads(heads)
    for start in range(0, len(ordered), _SETTLE_CHUNK):
        chunk = ordered[start : start + _SETTLE_CHUNK]
        codes = [head.application_code for head in chunk]
        async with conn.transaction():
            await conn.execute(_LOCK_SETTLED, codes)
            await conn.execute(
                _SETTLE, codes, [head.seq for head in chunk], [head.hash for head in chunk]
            )


def _stored(row: asyncpg.Record) -> StoredCheckpoint:
    return StoredCheckpoint(
        row["number"], SignedCheckpoint(bytes(row["payload"]), bytes(row["signature"]))
    )


# The heads whose seq or hash is not the one the checkpoints hold (new, moved on, or
# changed in place), through the partial index on `unchecked` (migration 014).
_MOVED_HEADS = """
    SELECT application_code, last_seq, last_hash FROM tracking.timeline_heads WHERE unchecked
"""
_HASHES_AT = """
    SELECT u.code, t.hash
      FROM unnest($1::text[], $2::bigint[]) AS u(code, seq)
      LEFT JOIN tracking.timeline t ON t.application_code = u.code AND t.seq = u.seq
"""
_LOCK_SETTLED = """
    SELECT 1 FROM tracking.timeline_heads WHERE application_code = ANY($1::text[])
     ORDER BY application_code FOR UPDATE
"""
_SETTLE = """
    UPDATE tracking.timeline_heads AS h
       SET checkpointed_seq = u.seq, checkpointed_hash = u.hash
      FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(code, seq, hash)
     WHERE h.application_code = u.code AND h.last_seq = u.seq AND h.last_hash = u.hash
"""
# $1: the oldest checkpoint whose leaves are kept. Its own rows supersede every older
# row of their applications.
_PRUNE = """
    DELETE FROM tracking.timeline_checkpoint_leaves AS old
     USING tracking.timeline_checkpoint_leaves AS kept
     WHERE kept.number = $1
       AND old.application_code = kept.application_code
       AND old.number < $1
"""
