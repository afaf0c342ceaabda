"""Notify against a raw consume of the same records, confined to scratch topics.

`python -m bench.notify_ingest --applications 300 [--json out.json]` writes the records
notify consumes for N auto-approved applications (a housing-fund loan: submission,
acceptance, task started, auto-approval, completion; the contact sealed as intake seals
it) to topics of a scratch prefix on the running Kafka, reads them with a plain aiokafka
consumer (the raw rate), then starts a notify process of its own on that prefix (same
database, its own port and consumer group) and times it until every record is committed
and every notification is in notify.local_messages. Then, notify stopped, the same
durable work is done raw (bench/raw_notify.py: its rows written again into a scratch
schema, its outcome events published again to a scratch topic): `ratio_to_raw_write`.
The running services never see the scratch topics; the scratch topics, the process and
the scratch rows are removed at the end.

`--profile FILE`: py-spy's raw stacks of notify for 15 s at 250 samples/s, in py-spy's
blocking mode (every stack whole; notify pauses for each sample, so a profiled run's
rate is not one to report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.drain import PROGRESS_SAMPLE_SECONDS, GroupOffsets
from bench.kafka_tools import delete_topics, read_since
from bench.monitor import cpu_seconds, terminate
from bench.raw_notify import raw_notify_write
from bench.stats import progress_rate, ratio
from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import build_producer, ensure_topics, publish_all
from onceonly.platform.pii import PiiSealer, mask_mobile
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.platform.testing import free_port
from onceonly.platform.topics import Stream, topic_name

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "ONCEONLY_DATABASE_URL", "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly"
)
KAFKA = os.environ.get("ONCEONLY_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MOBILE = "13812345678"
MATTER = "housing-fund-loan"
DEPARTMENT = "housing-fund"
REGION = "330100"
INTEGRATOR = "bench-notify-ingest"  # no webhook registered: nothing is queued for it
# Notifications per auto-approved application: acceptance, the decision, the completion
# and its rating invitation (SMS only).
NOTIFICATIONS_PER_APPLICATION = 4
RAW_READS = 5


def _clock(due_at: datetime) -> approval_pb2.Clock:
    clock = approval_pb2.Clock(committed_days=5, day_kind="working")
    clock.due_at.FromDatetime(due_at)
    return clock


def application_events(code: str, sealer: PiiSealer) -> list[tuple[Stream, Envelope]]:
    """The records of one auto-approved loan, as intake and the workflow publish them."""
    contact = application_pb2.Contact(
        mobile=sealer.sealed_text(MOBILE, mask_mobile(MOBILE), context=f"{code}:mobile"),
        channels=["sms"],
        language="zh",
    )
    now = datetime.now(UTC)
    due_at = (now + timedelta(days=7)).replace(hour=15, minute=59, second=59, microsecond=0)
    trace = {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}
    submitted = application_pb2.ApplicationSubmitted(
        application_code=code,
        matter_code=MATTER,
        integrator_id=INTEGRATOR,
        applicant=application_pb2.Applicant(
            kind=application_pb2.APPLICANT_KIND_PERSON,
            name=sealer.sealed_text("张伟", "张*", context=f"{code}:name"),
            identifier=sealer.sealed_text(
                "330106198703152315", "3301**********2315", context=f"{code}:identifier"
            ),
        ),
        contact=contact,
        materials=[
            application_pb2.Material(
                code="loan-application", reference=f"dms://bench/{code}/loan-application.pdf"
            )
        ],
        form_json='{"loan_amount_cny":600000,"loan_term_years":30}',
        submitted_region=REGION,
        competent_region=REGION,
    )
    submitted.submitted_at.FromDatetime(now)
    system = approval_pb2.Actor(kind="system", id="auto-approval")
    workflow = [
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code=MATTER,
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED,
            clock=_clock(due_at),
            contact=contact,
            actor=approval_pb2.Actor(kind="system", id="workflow"),
        ),
        approval_pb2.TaskStarted(
            application_code=code,
            department_code=DEPARTMENT,
            task_name="公积金贷款审批",
            clock=_clock(due_at),
        ),
        approval_pb2.TaskDecided(
            application_code=code,
            department_code=DEPARTMENT,
            outcome=approval_pb2.DECISION_OUTCOME_APPROVED,
            reason="共享数据核验全部通过, 自动审批 / all shared-data checks passed",
            clock=_clock(due_at),
            actor=system,
            contact=contact,
        ),
        approval_pb2.ApplicationCompleted(
            application_code=code,
            matter_code=MATTER,
            elicence_number=f"EL-{code}",
            elicence_type="loan-approval",
            clock=_clock(due_at),
            contact=contact,
        ),
    ]
    events = [
        (
            Stream.SUBMISSIONS,
            new_envelope(
                submitted, source="/onceonly/intake", application_code=code, trace_headers=trace
            ),
        )
    ]
    events += [
        (
            Stream.APPROVAL_EVENTS,
            new_envelope(
                message, source="/onceonly/workflow", application_code=code, trace_headers=trace
            ),
        )
        for message in workflow
    ]
    return events


def scratch_codes(count: int) -> list[str]:
    """Application codes of the run's shape (region-date-serial) that no real
    application has: the year 2099 and a random serial block."""
    block = uuid.uuid4().int % 900 + 100
    return [f"{REGION}-2099{block:04d}-{i:07d}" for i in range(count)]


async def produce(prefix: str, codes: list[str]) -> int:
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    by_topic: dict[str, list[Envelope]] = {}
    for code in codes:
        for stream, envelope in application_events(code, sealer):
            by_topic.setdefault(topic_name(prefix, stream), []).append(envelope)
    producer = build_producer(KAFKA, client_id=f"{prefix}-producer")
    await producer.start()
    try:
        for topic, envelopes in by_topic.items():
            for start in range(0, len(envelopes), 500):
                await publish_all(producer, topic, envelopes[start : start + 500])
    finally:
        await producer.stop()
    return sum(len(v) for v in by_topic.values())


def _start_notify(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            [str(ROOT / ".venv/bin/onceonly-notify"), "run"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def _start_profiler(pid: int, output: str) -> subprocess.Popen[bytes]:
    """py-spy's collapsed stacks of `pid` for 15 s, blocking (we run as root, so it
    attaches)."""
    command = [str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(pid), "-r", "250"]
    return subprocess.Popen(
        [*command, "-f", "raw", "-o", output, "-d", "15"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def group_consume(topics: list[str], group: str, total: int) -> float:
    """Records/s of a consumer that works as notify's does with nothing to do: a member
    of a group, batches of up to 200 records, each committed; timed from its first
    batch to its last (the group join left out, as notify's start is)."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=KAFKA,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        done, first, last = 0, 0.0, 0.0
        begin = time.monotonic()
        while done < total and time.monotonic() - begin < 60:
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            if not batches:
                continue
            first = first or time.monotonic()
            done += sum(len(records) for records in batches.values())
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batches.items() if rs})
            last = time.monotonic()
        return done / (last - first) if last > first else 0.0
    finally:
        await consumer.stop()


async def _progress(offsets: GroupOffsets, ends: dict[TopicPartition, int]) -> int:
    now = await offsets.read()
    return sum(min(now.get(tp, 0), end) for tp, end in ends.items())


async def run(applications: int, *, within: float, profile: str | None) -> dict[str, Any]:
    prefix = f"bench-ni-{uuid.uuid4().hex[:8]}"
    settings = NotifySettings(environment="development", topic_prefix=prefix)
    runtime = NotifyRuntime(settings)
    topics = runtime.consumed_topics
    group = settings.notify_consumer_group
    codes = scratch_codes(applications)
    expected_messages = applications * NOTIFICATIONS_PER_APPLICATION
    pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=2)
    process: subprocess.Popen[bytes] | None = None
    log_path = Path(f"/tmp/{prefix}.notify.log")
    try:
        await ensure_topics(KAFKA, [*topics, runtime.outcomes_topic, runtime.dead_letter_topic])
        since_ms = int(time.time() * 1000) - 1000
        produced = await produce(prefix, codes)
        # The raw read five times, the median kept: one read's time is mostly how the
        # fetches of the partitions happen to fall (0.02 to 0.5 s for the same records).
        reads = [await read_since(KAFKA, topics, since_ms) for _ in range(RAW_READS)]
        records = reads[0][0]
        raw_seconds = statistics.median(seconds for _, seconds in reads)
        ends: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            ends[tp] = max(ends.get(tp, 0), record.offset + 1)
        total = sum(ends.values())
        group_rate = await group_consume(topics, f"{prefix}-raw", total)
        env = {
            **os.environ,
            "ONCEONLY_ENVIRONMENT": "development",
            "ONCEONLY_DATABASE_URL": DATABASE_URL,
            "ONCEONLY_KAFKA_BOOTSTRAP": KAFKA,
            "ONCEONLY_TOPIC_PREFIX": prefix,
            "ONCEONLY_NOTIFY_PORT": str(free_port()),
            "ONCEONLY_NOTIFY_PROGRESS_BASE_URL": "http://127.0.0.1:8000",
            "ONCEONLY_LOG_LEVEL": os.environ.get("ONCEONLY_LOG_LEVEL", "INFO"),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "PYTHONUNBUFFERED": "1",
        }
        process = _start_notify(env, log_path)
        samples: list[tuple[float, int, float]] = []  # (time, records done, cpu seconds)
        profiler: subprocess.Popen[bytes] | None = None
        begin = time.monotonic()
        sent = 0
        async with GroupOffsets(KAFKA, group) as offsets:
            while time.monotonic() - begin < within:
                if process.poll() is not None:
                    raise RuntimeError(f"notify exited ({process.returncode}); see {log_path}")
                done = await _progress(offsets, ends)
                cpu = cpu_seconds(process.pid)
                if cpu is None:
                    raise RuntimeError(f"notify exited; see {log_path}")
                samples.append((time.monotonic(), done, cpu))
                if profile and profiler is None and done > 0:
                    profiler = _start_profiler(process.pid, profile)
                if done >= total:
                    sent = await pool.fetchval(
                        "SELECT count(*) FROM notify.local_messages"
                        " WHERE application_code = ANY($1::text[])",
                        codes,
                    )
                    if sent >= expected_messages:
                        break
                await asyncio.sleep(PROGRESS_SAMPLE_SECONDS)
        if profiler is not None:
            profiler.wait(timeout=30)
        terminate(process, within=20)
        # The same durable work written raw, with notify stopped (not sharing the cores).
        outcomes, _ = await read_since(KAFKA, [runtime.outcomes_topic], since_ms)
        raw_write = await raw_notify_write(
            pool,
            kafka=KAFKA,
            codes=codes,
            records=total,
            outcomes=outcomes,
            topic=f"{prefix}.raw-outcomes",
        )
        first = next((s for s in samples if s[1] > 0), None)
        last = samples[-1]
        cpu_ms_per_record = (
            (last[2] - first[2]) * 1000 / max(1, last[1] - first[1]) if first else 0.0
        )
        rate = progress_rate([(t, n) for t, n, _ in samples], total)
        raw_rate = len(records) / raw_seconds if raw_seconds else 0.0
        dead = await pool.fetchval(
            "SELECT count(*) FROM notify.deliveries WHERE application_code = ANY($1::text[])"
            " AND status <> 'sent'",
            codes,
        )
        return {
            "applications": applications,
            "records_produced": produced,
            "records": total,
            "raw_records": len(records),
            "raw_seconds": round(raw_seconds, 3),
            "raw_records_per_s": round(raw_rate, 1),
            # The same records through a group member committing each batch, like notify.
            "raw_group_records_per_s": round(group_rate, 1),
            "ratio_to_group": ratio(rate, group_rate),
            "notify_records_per_s": rate,
            "ratio": ratio(rate, raw_rate),
            "notify_cpu_ms_per_record": round(cpu_ms_per_record, 3),
            "raw_write": raw_write,
            # Against the same durable writes alone (what notify adds to them).
            "ratio_to_raw_write": ratio(rate, raw_write["records_per_s"]),
            "notifications": sent,
            "notifications_expected": expected_messages,
            "deliveries_not_sent": dead,
            "drained": samples[-1][1] >= total and sent >= expected_messages,
            "consumer_concurrency": int(os.environ.get("ONCEONLY_NOTIFY_CONSUMER_CONCURRENCY", "0"))
            or settings.notify_consumer_concurrency,
        }
    finally:
        if process is not None:
            terminate(process, within=20)
        await delete_topics(KAFKA, f"{prefix}.")
        await _forget(pool, codes, group)
        await pool.close()


async def _forget(pool: asyncpg.Pool, codes: list[str], group: str) -> None:
    """Remove the scratch applications' rows, so that the shared database is as before."""
    async with pool.acquire() as conn, conn.transaction():
        for table in ("local_messages", "deliveries", "contacts", "agent_contacts", "applications"):
            await conn.execute(
                f"DELETE FROM notify.{table} WHERE application_code = ANY($1::text[])",
                codes,
            )
        with contextlib.suppress(asyncpg.UndefinedTableError):
            await conn.execute("DELETE FROM platform.deferred_events WHERE consumer = $1", group)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument("--profile", help="py-spy's raw (folded) profile of notify, 15 s")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat, and report the median of each figure"
    )
    args = parser.parse_args()
    rounds = [
        asyncio.run(run(args.applications, within=args.timeout, profile=args.profile))
        for _ in range(args.rounds)
    ]
    figures = dict(rounds[0])
    if len(rounds) > 1:
        for name in (
            "raw_records_per_s",
            "raw_group_records_per_s",
            "notify_records_per_s",
            "notify_cpu_ms_per_record",
            "ratio_to_raw_write",
        ):
            figures[name] = statistics.median(r[name] for r in rounds)
        figures["ratio"] = statistics.median(r["ratio"] or 0.0 for r in rounds)
        figures["ratio_to_group"] = statistics.median(r["ratio_to_group"] or 0.0 for r in rounds)
        figures["drained"] = all(r["drained"] for r in rounds)
        figures["rounds"] = rounds
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    sys.exit(0 if figures["drained"] else 1)


if __name__ == "__main__":
    main()
