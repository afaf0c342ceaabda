"""What must hold after the faults, once the system has settled.

Each check reads the instance's own stores (Postgres, Kafka, Temporal) and tracking's
verification API, and returns the violations it found: a list of readable lines, empty
when the invariant holds. Nothing here trusts the load generator beyond the codes it
was given: the counts come from the system.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from temporalio.client import Client, WorkflowExecutionStatus

from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.events import parse_event
from onceonly.platform.partition_reader import topic_partitions
from onceonly.tracking.figures import Recorded, reference_figures
from onceonly.tracking.figures_store import FiguresStore
from tests.chaos.traffic import MATTERS


def short(ce_type: str) -> str:
    return ce_type.rsplit(".", 1)[-1]


@dataclass
class Findings:
    counts: dict[str, int] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)

    def add(self, invariant: str, problems: list[str]) -> None:
        self.violations[invariant] = problems

    @property
    def lost(self) -> int:
        return sum(len(v) for v in self.violations.values())


async def kafka_events(
    bootstrap: str, prefix: str
) -> tuple[dict[str, list[str]], int, dict[str, str]]:
    """Event ids per application code on every stream of the instance, dead letters, and
    where each event is (topic, partition, offset, time: to place a lost one in the run)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(f"{prefix}.")]
    finally:
        await admin.close()
    partitions = await topic_partitions(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        by_code: dict[str, list[str]] = defaultdict(list)
        where: dict[str, str] = {}
        dead = 0
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if ".dlq." in tp.topic:
                        dead += 1
                        continue
                    headers = dict(record.headers)
                    code = record.key.decode() if record.key else ""
                    event_id = headers["ce_id"].decode()
                    by_code[code].append(event_id)
                    at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                    where[event_id] = (
                        f"{tp.topic}[{tp.partition}]@{record.offset} {at:%H:%M:%S.%f}"[:-3]
                    )
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return by_code, dead, where
    finally:
        await consumer.stop()


async def check(
    *,
    accepted: dict[str, str],
    pool: asyncpg.Pool,
    kafka_bootstrap: str,
    topic_prefix: str,
    temporal_address: str,
    tracking_url: str,
    staff_headers: dict[str, str],
    started: datetime,
) -> Findings:
    found = Findings()
    codes = set(accepted)
    found.counts["applications"] = len(codes)

    # Intake: every accepted application is stored, nothing else is, the outbox is empty.
    stored = {
        r["application_code"]
        for r in await pool.fetch("SELECT application_code FROM intake.applications")
    }
    unpublished = await pool.fetchval(
        "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"
    )
    found.add(
        "intake stores exactly the accepted applications and publishes its whole outbox",
        [f"accepted but not stored: {c}" for c in sorted(codes - stored)]
        + [f"stored but never answered: {c}" for c in sorted(stored - codes)]
        + ([f"{unpublished} outbox rows unpublished"] if unpublished else []),
    )

    # Temporal: one workflow execution per application, completed.
    client = await Client.connect(temporal_address)
    runs: Counter[str] = Counter()
    status: dict[str, WorkflowExecutionStatus | None] = {}
    async for execution in client.list_workflows("WorkflowType = 'JointApproval'"):
        runs[execution.id] += 1
        status[execution.id] = execution.status
    found.counts["workflow_runs"] = sum(runs.values())
    found.add(
        "every accepted application has exactly one workflow, completed",
        [f"{c}: {runs[c]} workflow runs" for c in sorted(codes) if runs[c] != 1]
        + [
            f"{c}: workflow {status[c].name if status[c] else 'unknown'}"
            for c in sorted(codes)
            if runs[c] == 1 and status[c] != WorkflowExecutionStatus.COMPLETED
        ]
        + [f"workflow without an accepted application: {c}" for c in sorted(set(runs) - codes)],
    )

    # Tracking: a complete timeline per application, each logical step once.
    rows = await pool.fetch(
        "SELECT application_code, seq, event_id, ce_type, ce_time, data FROM tracking.timeline"
        " ORDER BY application_code, seq"
    )
    found.counts["timeline_events"] = len(rows)
    timeline: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        timeline[row["application_code"]].append(row)
    problems = []
    for code in sorted(codes):
        types = Counter(short(r["ce_type"]) for r in timeline[code])
        departments = MATTERS[accepted[code]]["departments"]
        for kind in ("ApplicationSubmitted", "ApplicationAccepted", "ApplicationCompleted"):
            if types[kind] != 1:
                problems.append(f"{code}: {types[kind]} {kind}, expected 1")
        # Each department's task once, by department: a count alone once passed one
        # department's decision twice and another's missing.
        for kind in ("TaskStarted", "TaskDecided"):
            seen = sorted(
                parse_event(r["ce_type"], bytes(r["data"])).department_code
                for r in timeline[code]
                if short(r["ce_type"]) == kind
            )
            if seen != sorted(departments):
                problems.append(f"{code}: {kind} of {seen}, expected {sorted(departments)}")
        if types["NotificationSent"] == 0:
            problems.append(f"{code}: no NotificationSent in its timeline")
    found.add("every accepted application has a complete timeline, each step once", problems)

    # No event missing: every event on Kafka is in its application's timeline.
    on_kafka, dead, where = await kafka_events(kafka_bootstrap, topic_prefix)
    found.counts["kafka_records"] = sum(len(v) for v in on_kafka.values())
    found.counts["dead_letters"] = dead
    recorded_ids = {r["event_id"] for r in rows}
    missing = [
        f"{code}: event {event_id} on Kafka ({where[event_id]} UTC), not in the timeline"
        for code, ids in sorted(on_kafka.items())
        for event_id in sorted(set(ids) - recorded_ids)
    ]
    found.add(
        "no event missing, nothing dead-lettered",
        missing + ([f"{dead} dead letters"] if dead else []),
    )

    # Hash chains, through tracking's own verification endpoint.
    broken = []
    async with httpx.AsyncClient(timeout=30.0) as http:
        for code in sorted(codes):
            answer = await http.get(
                f"{tracking_url}/v1/applications/{code}/timeline/verification",
                headers=staff_headers,
            )
            body = answer.json() if answer.status_code == 200 else {}
            if not body.get("intact"):
                broken.append(f"{code}: {answer.status_code} {body or answer.text[:200]}")
    found.add("every timeline's hash chain is intact", broken)

    # Notifications: each sent once, none left in doubt, every application told of completion.
    deliveries = await pool.fetch(
        "SELECT application_code, cause_event_type, status FROM notify.deliveries"
    )
    found.counts["notifications"] = len(deliveries)
    doubled = await pool.fetch(
        "SELECT application_code, body, count(*) AS n FROM notify.local_messages"
        " GROUP BY application_code, body HAVING count(*) > 1"
    )
    told = {
        d["application_code"]
        for d in deliveries
        if short(d["cause_event_type"]) == "ApplicationCompleted" and d["status"] == "sent"
    }
    found.add(
        "no notification sent twice, none in doubt, none missing",
        [f"{r['application_code']}: the same message sent {r['n']} times" for r in doubled]
        + [
            f"{d['application_code']}: {short(d['cause_event_type'])} delivery {d['status']}"
            for d in deliveries
            if d["status"] != "sent"
        ]
        + [f"{c}: completion never notified" for c in sorted(codes - told)],
    )

    # Supervision figures equal a recomputation from the timelines.
    recorded = [
        Recorded(r["application_code"], parse_event(r["ce_type"], bytes(r["data"])), r["ce_time"])
        for r in rows
    ]
    start = started - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(days=1)
    mismatches = []
    store = FiguresStore(pool)
    for group_by in ("matter", "department"):
        expected = reference_figures(
            recorded, start=start, end=end, group_by=group_by, calendar=default_calendar()
        )
        actual = await store.figures(start=start, end=end, group_by=group_by)
        for group in sorted(set(expected) | set(actual)):
            want = expected[group].as_json() if group in expected else None
            got = actual[group].as_json() if group in actual else None
            if want != got:
                mismatches.append(f"{group_by} {group}: served {got}, recomputed {want}")
        if group_by == "matter":
            received = sum(g.received for g in actual.values())
            if received != len(codes):
                mismatches.append(f"figures count {received} received, {len(codes)} accepted")
    found.add("supervision figures equal a recomputation from the timelines", mismatches)
    return found
