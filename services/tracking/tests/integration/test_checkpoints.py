"""Timeline checkpoints against the real store and Kafka: made over every chain head,
once per slot however many agents try, published and read back as signed, and never
signing a chain that was rewritten after the last one."""

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import build_producer, ensure_topics, publish
from onceonly.platform.secrets import DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS
from onceonly.platform.testing import TopicReader, eventually, unique_prefix
from onceonly.platform.topics import Stream, topic_name
from onceonly.tracking import chain
from onceonly.tracking.checkpoint import Head, open_checkpoint, sign, sorted_heads, tree_of
from onceonly.tracking.checkpoint_store import CheckpointStore
from onceonly.tracking.checkpoints import (
    CHECKPOINT_KEY,
    Checkpointer,
    checkpoint_topic,
    signed_of,
)
from onceonly.tracking.store import TrackingStore

pytestmark = pytest.mark.integration

# The shared test database keeps every checkpoint made in it: always the development
# key, so that each run's checkpoints verify the last run's.
RING = SigningKeys.parse(DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS, setting="TEST")
KEYS = RING.published()


async def record(store, events, code: str, count: int = 3) -> None:
    life = [events.submitted(code), events.accepted(code), events.task_started(code)]
    for minutes, message in enumerate(life[:count]):
        envelope = events.envelope(message, code, minutes=minutes)
        await store.append(envelope, topic="t.approval-events.v1", partition=0, offset=minutes)


async def tamper(pool, sql: str, *args: object) -> None:
    """Change the timeline as an intruder with the table owner's rights would."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE tracking.timeline DISABLE TRIGGER timeline_append_only")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE tracking.timeline ENABLE TRIGGER timeline_append_only")


async def rebuild_consistently(pool, code: str, seq: int, forged_summary: str) -> None:
    """Rewrite entry `seq`'s summary and every hash from it on, and the head, so that the
    chain in the database holds link by link (what the chain alone cannot catch)."""
    await tamper(
        pool,
        "UPDATE tracking.timeline SET summary = summary || $3::jsonb"
        " WHERE application_code = $1 AND seq = $2",
        code,
        seq,
        forged_summary,
    )
    rows = await pool.fetch(
        "SELECT * FROM tracking.timeline WHERE application_code = $1 ORDER BY seq", code
    )
    previous = chain.GENESIS_HASH
    for row in rows:
        entry = chain.ChainEntry(
            application_code=code,
            seq=row["seq"],
            event_id=row["event_id"],
            ce_type=row["ce_type"],
            ce_source=row["ce_source"],
            ce_time=row["ce_time"],
            data=bytes(row["data"]),
            prev_hash=previous,
            hash="",
            shown=chain.Shown(
                summary=json.loads(row["summary"]),
                topic=row["topic"],
                partition=row["partition"],
                offset=row["kafka_offset"],
                recorded_at=row["recorded_at"],
            ),
            version=row["chain_version"],
        )
        digest = chain.recompute(entry)
        await tamper(
            pool,
            "UPDATE tracking.timeline SET prev_hash = $3, hash = $4"
            " WHERE application_code = $1 AND seq = $2",
            code,
            row["seq"],
            previous,
            digest,
        )
        previous = digest
    await pool.execute(
        "UPDATE tracking.timeline_heads SET last_hash = $2 WHERE application_code = $1",
        code,
        previous,
    )


@pytest.fixture
async def checkpointer(pool, kafka_bootstrap):
    topic = checkpoint_topic(unique_prefix("test-checkpoints"))
    await ensure_topics(kafka_bootstrap, [topic])
    producer = build_producer(kafka_bootstrap, client_id="test-checkpoints")
    await producer.start()
    try:
        yield (
            Checkpointer(
                CheckpointStore(pool),
                producer,
                topic=topic,
                signer=RING.current,
                keys=KEYS,
                keep_leaves=5,
            ),
            topic,
        )
    finally:
        await producer.stop()


def instant() -> datetime:
    return datetime.now(UTC)


async def test_a_checkpoint_covers_every_head_and_is_published_as_signed(
    store, events, pool, checkpointer, kafka_bootstrap
) -> None:
    maker, topic = checkpointer
    codes = [events.code(), events.code()]
    for code in codes:
        await record(store, events, code)
    now = instant()
    done = await maker.run_once(now=now, slot=now)
    assert done.made is not None
    made = done.made.payload
    assert made.number in done.published
    # Over every chain head in the database as it stood (appends of other tests aside).
    heads = {
        row["application_code"]: Head(row["application_code"], row["last_seq"], row["last_hash"])
        for row in await pool.fetch(
            "SELECT application_code, last_seq, last_hash FROM tracking.timeline_heads"
            " WHERE last_seq > 0 AND updated_at < $1",
            now,
        )
    }
    leaves = {
        head.application_code: head for head in await CheckpointStore(pool).leaves(made.number)
    }
    assert made.size == len(leaves) >= len(heads)
    assert all(
        leaves[code] == head for code, head in heads.items() if code not in done.made.held_back
    )
    assert tree_of(sorted_heads(list(leaves.values()))).root.hex() == made.root
    for code in codes:
        assert leaves[code].seq == 3

    async with TopicReader(kafka_bootstrap, topic) as reader:
        records = await reader.until(
            lambda rs: any(r.key == CHECKPOINT_KEY.encode() for r in rs),
            what="the checkpoint on Kafka",
        )
    [published] = [r for r in records if r.key == CHECKPOINT_KEY.encode()]
    envelope = Envelope.from_kafka(published.headers, published.value)
    assert envelope.type == "onceonly.events.v1.TimelineCheckpoint"
    assert envelope.subject == CHECKPOINT_KEY
    message = envelope.message()
    opened = open_checkpoint(signed_of(message), KEYS)
    assert opened == made
    assert (message.number, message.root, message.size) == (made.number, made.root, made.size)
    # Stored as published: one round later nothing is left to publish.
    assert (await maker.run_once(now=instant(), slot=now)).published == ()


async def test_one_checkpoint_per_slot_whoever_makes_it(store, events, pool, checkpointer) -> None:
    maker, _ = checkpointer
    await record(store, events, events.code(), count=1)
    slot = instant()
    rounds = await asyncio.gather(*(maker.run_once(now=instant(), slot=slot) for _ in range(3)))
    made = [r.made for r in rounds if r.made is not None]
    assert len(made) == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM tracking.timeline_checkpoints WHERE slot = $1", slot
        )
        == 1
    )
    # A later slot with no head moved: nothing new to sign.
    later = instant() + timedelta(microseconds=1)
    quiet = await maker.run_once(now=later, slot=later)
    assert quiet.made is None or quiet.made.payload.root != made[0].payload.root


async def test_a_chain_rewritten_after_a_checkpoint_is_not_signed_again(
    store, events, pool, checkpointer
) -> None:
    maker, _ = checkpointer
    code = events.code()
    await record(store, events, code)
    first = (await maker.run_once(now=instant(), slot=instant())).made
    assert first is not None
    signed_head = await CheckpointStore(pool).leaf(first.payload.number, code)
    assert signed_head is not None and signed_head.seq == 3
    await rebuild_consistently(pool, code, 2, '{"note": "forged"}')
    assert (await store.verify(code)).entries == 3
    await record(store, events, events.code(), count=1)  # something else moves
    second = (await maker.run_once(now=instant(), slot=instant())).made
    assert second is not None
    assert code in second.held_back
    assert await CheckpointStore(pool).leaf(second.payload.number, code) == signed_head
    # Held back, it is looked at again by the next checkpoint (and logged again).
    await record(store, events, events.code(), count=1)
    third = (await maker.run_once(now=instant(), slot=instant())).made
    assert third is not None and code in third.held_back
    assert await CheckpointStore(pool).leaf(third.payload.number, code) == signed_head


async def test_a_checkpoint_stores_only_the_heads_that_moved_and_keeps_proofs_when_pruning(
    store, events, pool
) -> None:
    """Leaves are versions: a checkpoint writes rows for the heads that moved since the
    last one, another process rebuilds any kept checkpoint's tree from them, and pruning
    leaves each kept checkpoint whole."""
    made_by = CheckpointStore(pool)

    async def make(keep: int = 2):
        now = instant()
        made = await made_by.make(
            signer=RING.current, keys=KEYS, slot=now, now=now, keep_leaves=keep
        )
        assert made is not None
        return made.payload

    async def rows(number: int) -> set[str]:
        return {
            row[0]
            for row in await pool.fetch(
                "SELECT application_code FROM tracking.timeline_checkpoint_leaves"
                " WHERE number = $1",
                number,
            )
        }

    still, moving = events.code(), events.code()
    await record(store, events, still)
    await record(store, events, moving, count=1)
    first = await make()
    assert {still, moving} <= await rows(first.number)
    await store.append(
        events.envelope(events.accepted(moving), moving, minutes=1),
        topic="t.approval-events.v1",
        partition=0,
        offset=1,
    )
    second = await make()
    assert await rows(second.number) == {moving}
    await store.append(
        events.envelope(events.task_started(moving), moving, minutes=2),
        topic="t.approval-events.v1",
        partition=0,
        offset=2,
    )
    follower = CheckpointStore(pool)  # an API's: it carries its tree from one to the next
    async with pool.acquire() as conn:
        assert (await follower.coverage(moving, KEYS, conn)).coverage.head.seq == 2
    third = await make()  # keeps the leaves of the second and third: the first's go
    assert await rows(third.number) == {moving}
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM tracking.timeline_checkpoint_leaves WHERE application_code = $1",
            moving,
        )
        == 2
    )
    # Without the maker's cached tree, each kept checkpoint's rows give its signed root.
    reader = CheckpointStore(pool)
    for payload in (second, third):
        heads = await reader.leaves(payload.number)
        assert tree_of(sorted_heads(heads)).root.hex() == payload.root
        assert len(heads) == payload.size
    assert await reader.leaf(third.number, still) == await reader.leaf(first.number, still)
    assert (await reader.leaf(second.number, moving), await reader.leaf(third.number, moving)) == (
        Head(moving, 2, (await store.chain_entries(moving))[1].hash),
        Head(moving, 3, (await store.chain_entries(moving))[2].hash),
    )
    async with pool.acquire() as conn:
        carried = await follower.coverage(moving, KEYS, conn)
    assert (carried.payload.number, carried.coverage.head.seq) == (third.number, 3)
    assert follower.trees.full_reads == 1  # the second's; the third's was carried on
    # Nothing moved: nothing to sign, nothing left to look at.
    now = instant()
    assert (
        await made_by.make(signer=RING.current, keys=KEYS, slot=now, now=now, keep_leaves=2) is None
    )
    assert not await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM tracking.timeline_heads"
        " WHERE application_code = ANY($1) AND unchecked)",
        [still, moving],
    )


# --- Verification of an application against the latest checkpoint --------------------


@pytest.fixture
def anchored_store(pool) -> TrackingStore:
    return TrackingStore(pool, checkpoint_keys=KEYS)


async def test_a_chain_as_checkpointed_is_anchored(anchored_store, events, checkpointer) -> None:
    maker, _ = checkpointer
    code = events.code()
    await record(anchored_store, events, code, count=2)
    before = await anchored_store.verify(code)
    assert before.intact
    # Recorded after the latest checkpoint (if any): not covered by it yet.
    assert (before.anchored, before.anchor) == (False, "not_covered")
    made = (await maker.run_once(now=instant(), slot=instant())).made
    assert made is not None
    await anchored_store.append(
        events.envelope(events.task_started(code), code, minutes=9),
        topic="t.approval-events.v1",
        partition=0,
        offset=9,
    )
    after = await anchored_store.verify(code)
    assert (after.intact, after.anchored, after.anchor) == (True, True, "anchored")
    assert (after.checkpoint_number, after.anchored_seq, after.entries) == (
        made.payload.number,
        2,
        3,
    )


async def test_a_chain_rebuilt_consistently_after_the_checkpoint_is_detected(
    anchored_store, events, pool, checkpointer
) -> None:
    maker, _ = checkpointer
    code = events.code()
    await record(anchored_store, events, code)
    assert (await maker.run_once(now=instant(), slot=instant())).made is not None
    assert (await anchored_store.verify(code)).anchored

    await rebuild_consistently(pool, code, 2, '{"decision": "approved early"}')
    # The chain alone holds: every link and the head were rebuilt.
    unanchored = await TrackingStore(pool).verify(code)
    assert unanchored.intact and unanchored.anchor == "unverifiable"
    verification = await anchored_store.verify(code)
    assert verification.intact is False
    assert (verification.anchored, verification.anchor) == (False, "contradicted")
    assert verification.first_broken_seq == 3  # the anchored head; the change was at or before
    assert "rewritten" in (verification.reason or "")
    # And the next checkpoint does not make the rebuilt chain look genuine.
    await record(anchored_store, events, events.code(), count=1)
    assert (await maker.run_once(now=instant(), slot=instant())).made is not None
    again = await anchored_store.verify(code)
    assert (again.intact, again.anchor) == (False, "contradicted")


async def test_a_checkpoint_written_into_the_database_is_not_trusted(
    anchored_store, events, pool, checkpointer
) -> None:
    maker, _ = checkpointer
    code = events.code()
    await record(anchored_store, events, code, count=1)
    made = (await maker.run_once(now=instant(), slot=instant())).made
    assert made is not None
    # Someone with the database but not the key signs the rebuilt heads with a key of
    # their own under the same key id.
    impostor = SigningKeys.parse(
        f"dev-checkpoint:{base64.b64encode(os.urandom(32)).decode()}", setting="T"
    )
    number = made.payload.number + 1
    heads = [Head(code, 1, "0" * 64)]
    payload, signed = sign(
        heads, signer=impostor.current, number=number, slot=instant(), made_at=instant()
    )
    await pool.execute(
        "INSERT INTO tracking.timeline_checkpoints"
        " (number, slot, made_at, size, root, payload, signature) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        number,
        payload.slot,
        payload.made_at,
        payload.size,
        payload.root,
        signed.payload,
        signed.signature,
    )
    try:
        verification = await anchored_store.verify(code)
        assert (verification.anchored, verification.anchor) == (False, "unverifiable")
        assert "signature" in (verification.anchor_reason or "")
    finally:
        await pool.execute("DELETE FROM tracking.timeline_checkpoints WHERE number = $1", number)


# --- Exports and the offline verifier, as an outside auditor runs them ------------------

TRACKING = Path(sys.executable).parent / "onceonly-tracking"


def run_cli(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRACKING), *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )


async def test_exports_verify_offline_and_a_rebuilt_chain_is_found(
    store, events, pool, database_url, kafka_bootstrap, tmp_path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ONCEONLY_")}
    env |= {
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ONCEONLY_TOPIC_PREFIX": unique_prefix("test-cli"),
    }
    code, later = events.code(), events.code()
    await record(store, events, code)
    made = await asyncio.to_thread(run_cli, env, "checkpoint")
    assert made.returncode == 0, made.stderr
    # (The log's JSON lines come first on stdout.)
    assert any(line.startswith("checkpoint ") for line in made.stdout.splitlines()), made.stdout
    keys = await asyncio.to_thread(run_cli, env, "checkpoint-keys")
    (tmp_path / "keys.json").write_text(keys.stdout)
    await record(store, events, later, count=1)  # after the checkpoint

    timeline, checkpoint = tmp_path / "timeline.json", tmp_path / "checkpoint.json"
    for args in (
        ("export-timeline", code, "-o", timeline),
        ("export-checkpoint", code, "-o", checkpoint),
    ):
        done = await asyncio.to_thread(run_cli, env, *args)
        assert done.returncode == 0, done.stderr
    assert json.loads(checkpoint.read_text())["coverage"]["application_code"] == code
    verify = ("verify-offline", timeline, checkpoint, "--public-keys", tmp_path / "keys.json")
    intact = await asyncio.to_thread(run_cli, env, *verify)
    assert (intact.returncode, intact.stdout.split(":")[0]) == (0, "intact"), intact.stdout

    # Not covered: recorded after the checkpoint.
    other_timeline, other_checkpoint = tmp_path / "later.json", tmp_path / "later-cp.json"
    for args in (
        ("export-timeline", later, "-o", other_timeline),
        ("export-checkpoint", later, "-o", other_checkpoint),
    ):
        assert (await asyncio.to_thread(run_cli, env, *args)).returncode == 0
    uncovered = await asyncio.to_thread(
        run_cli,
        env,
        "verify-offline",
        other_timeline,
        other_checkpoint,
        "--public-keys",
        tmp_path / "keys.json",
    )
    assert uncovered.returncode == 2 and uncovered.stdout.startswith("not covered"), (
        uncovered.stdout
    )

    # Rebuilt consistently in the database: the new export fails at the anchored entry.
    await rebuild_consistently(pool, code, 1, '{"note": "back-dated approval"}')
    assert (
        await asyncio.to_thread(run_cli, env, "export-timeline", code, "-o", timeline)
    ).returncode == 0
    tampered = await asyncio.to_thread(run_cli, env, *verify)
    assert tampered.returncode == 1
    assert tampered.stdout.startswith("tampered at entry 3"), tampered.stdout


@pytest.fixture
def checkpointing_agent(database_url, kafka_bootstrap, tmp_path) -> Iterator[tuple[str, Path]]:
    """An `onceonly-tracking agent` checkpointing every second: its topic prefix and log."""
    prefix = unique_prefix()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ONCEONLY_")}
    env |= {
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_TOPIC_PREFIX": prefix,
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ONCEONLY_TRACKING_CHECKPOINT_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log:
        agent = subprocess.Popen(
            [str(TRACKING), "agent"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield prefix, log_path
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(timeout=10)


async def test_the_agent_checkpoints_once_a_slot_and_publishes(
    checkpointing_agent, pool, events, kafka_bootstrap, producer
) -> None:
    prefix, log_path = checkpointing_agent
    submissions = topic_name(prefix, Stream.SUBMISSIONS)
    await ensure_topics(kafka_bootstrap, [submissions, checkpoint_topic(prefix)])
    code = events.code()
    await publish(producer, submissions, events.envelope(events.submitted(code), code))
    async with TopicReader(kafka_bootstrap, checkpoint_topic(prefix)) as reader:

        async def covering() -> list[int]:
            numbers = [
                Envelope.from_kafka(r.headers, r.value).message().number
                for r in await reader.poll()
            ]
            return [n for n in numbers if await CheckpointStore(pool).leaf(n, code) is not None]

        await eventually(covering, within=90, what="a checkpoint covering the event")
    # What the agent published verifies and covers the application.
    verification = await TrackingStore(pool, checkpoint_keys=KEYS).verify(code)
    assert (verification.intact, verification.anchor) == (True, "anchored")
    assert b"timeline checkpoint made" in log_path.read_bytes()
