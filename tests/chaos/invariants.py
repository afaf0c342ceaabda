"""What must hold after the faults, once the system has settled.

Each check reads the instance's own stores (Postgres, Kafka, Temporal) and tracking's
verification API, and returns the violations it found: a list of readable lines, empty
when the invariant holds. Nothing here trusts the load generator beyond the codes it
was given and what it did to each (its `Fate`: withdrawn, supplemented, or approved by
every department): the counts come from the system, and are exact. An application
withdrawn or supplemented right after submitting may reach the bridge before its
submission (another topic, issue 21); each must still leave `submitted` and end as its
fate says, alike in the workflow, intake and tracking.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, KafkaTimeoutError
from temporalio.client import Client, WorkflowExecutionStatus

from onceonly.catalogue import Catalogue, default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.events import parse_event
from onceonly.platform.partition_reader import topic_partitions
from onceonly.platform.topics import APPLICATION_STREAMS, topic_name
from onceonly.tracking.figures import Recorded, reference_figures
from onceonly.tracking.figures_store import FiguresStore
from onceonly.workflow.payload_codec import EncryptionCodec, data_converter
from onceonly.workflow.shared import ApplicationResult
from tests.chaos.traffic import ADDED, MATTERS, PRACTISED, SUPPLEMENT, WITHDRAWAL


def short(ce_type: str) -> str:
    return ce_type.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Fate:
    """What the traffic did to one accepted application, and so what must come of it:
    approved by every department, or withdrawn right after submitting (never decided);
    either one may have had a supplement right after submitting."""

    matter: str
    withdrawn: bool = False
    supplemented: bool = False
    burst: bool = False
    # An extension of PRACTISED, ADDED added by the lead, and a return of PRACTISED's
    # approval by the lead (traffic.py).
    practised: bool = False

    @property
    def departments(self) -> list[str]:
        return sorted(MATTERS[self.matter]["departments"])

    @property
    def final(self) -> str:
        """The status it ends in, everywhere (intake, workflow, tracking)."""
        return "withdrawn" if self.withdrawn else "completed"

    def decisions(self) -> list[str]:
        """The departments whose decisions it has, each as often as it decided (the
        practised department twice: before and after its return; the added one once)."""
        if self.withdrawn:
            return []
        return sorted(self.departments + ([PRACTISED, ADDED] if self.practised else []))

    def allowed_repeats(self) -> set[str]:
        """Departments whose identical approval message it gets twice, by design."""
        return {PRACTISED} if self.practised and not self.withdrawn else set()

    def describe(self) -> str:
        parts = [self.matter]
        parts += ["withdrawn"] if self.withdrawn else []
        parts += ["supplemented"] if self.supplemented else []
        parts += ["burst while the bridge was down"] if self.burst else []
        parts += [f"extension and return of {PRACTISED}, {ADDED} added"] if self.practised else []
        return ", ".join(parts)

    def notifications(self) -> Counter[str]:
        """The templates of the citizen messages it gets, each once (notify's rules: an
        event with the applicant's contact, or a supplement; a department's approval
        only when the matter announces it and has more than one department)."""
        sent: Counter[str] = Counter({"application_accepted.accepted": 1})
        if self.supplemented:
            sent["supplement_received"] += 1
        if self.withdrawn:
            sent["application_withdrawn"] += 1
            return sent
        matter = _catalogue().matter(self.matter)
        assert matter is not None
        if len(matter.tasks) > 1:
            sent["task_decided.approved"] += sum(
                task.notify_applicant_of_decision for task in matter.tasks
            )
        if self.practised:
            sent["extension_approved"] += 1
            practised = matter.task_for(PRACTISED)
            assert practised is not None
            # Approved twice: before the return and after it; and the added department's
            # approval (an added task announces its decision).
            sent["task_decided.approved"] += int(practised.notify_applicant_of_decision) + 1
        sent["application_completed"] += 1
        sent["rating_invitation"] += 1
        return sent

    def timeline(self) -> Counter[str]:
        """How many events of each type its timeline holds, exactly."""
        n = len(self.departments)
        kinds: Counter[str] = Counter(
            ApplicationSubmitted=1,
            ApplicationAccepted=1,
            TaskStarted=n,
            NotificationSent=sum(self.notifications().values()),
        )
        if self.supplemented:
            kinds["SupplementProvided"] = 1
        if self.withdrawn:
            kinds.update(WithdrawalRequested=1, TaskCancelled=n, ApplicationWithdrawn=1)
        else:
            kinds.update(TaskDecided=n, ApplicationCompleted=1)
        if self.practised:
            kinds.update(
                ExtensionRequested=1,
                ExtensionDecided=1,
                DepartmentAdded=1,
                TaskReturned=1,
                TaskDecided=2,
            )
        return kinds


def _repeat_allowed(fate: Fate | None, body: str, times: int) -> bool:
    """A practised application is told of its department's approval twice, in the same
    words (approved, returned, approved again)."""
    if fate is None or times != 2:
        return False
    for code in fate.allowed_repeats():
        department = _catalogue().department(code)
        if department is not None and department.name_zh in body and "审批通过" in body:
            return True
    return False


async def _read_within_limits(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> httpx.Response:
    """A staff read that waits out the API's rate limit (429, Retry-After) as a client
    should: the checks read hundreds of timelines with one staff token."""
    for _ in range(30):
        answer = await http.get(url, headers=headers)
        if answer.status_code != 429:
            return answer
        await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
    return answer


@functools.cache
def _catalogue() -> Catalogue:
    return default_catalogue()


def fate_of(
    matter: str,
    updates: tuple[str, ...] | list[str],
    *,
    burst: bool = False,
    practised: bool = False,
) -> Fate:
    return Fate(matter, WITHDRAWAL in updates, SUPPLEMENT in updates, burst, practised)


@dataclass
class Findings:
    counts: dict[str, int] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)

    def add(self, invariant: str, problems: list[str]) -> None:
        self.violations[invariant] = problems

    @property
    def lost(self) -> int:
        return sum(len(v) for v in self.violations.values())


async def unsettled(pool: asyncpg.Pool, accepted: dict[str, Fate]) -> Counter[str]:
    """How many applications are not yet where they must end, by the first store that
    lags: intake's status, tracking's status, the timeline's events, the notifications
    sent. Empty once every application is settled (what `check` then verifies)."""
    codes = list(accepted)
    intake = {
        r["application_code"]: r["status"]
        for r in await pool.fetch(
            "SELECT application_code, status FROM intake.applications"
            " WHERE application_code = ANY($1)",
            codes,
        )
    }
    tracked = {
        r["application_code"]: r["status"]
        for r in await pool.fetch(
            "SELECT application_code, status FROM tracking.application_status"
            " WHERE application_code = ANY($1)",
            codes,
        )
    }
    timeline: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await pool.fetch(
        "SELECT application_code, ce_type, count(*) AS n FROM tracking.timeline"
        " WHERE application_code = ANY($1) GROUP BY 1, 2",
        codes,
    ):
        timeline[r["application_code"]][short(r["ce_type"])] = r["n"]
    told: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await pool.fetch(
        "SELECT application_code, template, count(*) AS n FROM notify.deliveries"
        " WHERE status = 'sent' AND application_code = ANY($1) GROUP BY 1, 2",
        codes,
    ):
        # An estimated due date (past the published holiday notice) has its own wording.
        told[r["application_code"]][r["template"].removesuffix(".provisional")] += r["n"]
    lagging: Counter[str] = Counter()
    for code, fate in accepted.items():
        if intake.get(code, "submitted") == "submitted":
            lagging["submitted in intake"] += 1
        elif intake[code] != fate.final:
            lagging[f"{intake[code]} in intake"] += 1
        elif tracked.get(code) != fate.final:
            lagging["tracking status"] += 1
        elif timeline[code] != fate.timeline():
            lagging["timeline"] += 1
        elif told[code] != fate.notifications():
            lagging["notifications"] += 1
    return lagging


T = TypeVar("T")

# A broker restarted moments before (the last fault) may not answer yet; reads are
# tried again for this long before the check gives up.
KAFKA_READ_WITHIN_S = 90.0
STALLED_READ_S = 30.0


async def kafka_read(read: Callable[[], Awaitable[T]], within: float = KAFKA_READ_WITHIN_S) -> T:
    """`read` (which has no effect but reading), again after a Kafka client error."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await read()
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2.0)


async def kafka_events(
    bootstrap: str, prefix: str
) -> tuple[dict[str, list[str]], int, dict[str, str], dict[str, tuple[int, str, int, int]]]:
    """Event ids per application code on every stream of the instance, dead letters,
    where each event is (topic, partition, offset, time: to place a lost one in the run),
    and its first copy's (producer timestamp in ms, topic, partition, offset)."""
    return await kafka_read(lambda: _kafka_events(bootstrap, prefix))


async def _kafka_events(
    bootstrap: str, prefix: str
) -> tuple[dict[str, list[str]], int, dict[str, str], dict[str, tuple[int, str, int, int]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # The application streams and the dead letters; not the timeline checkpoints,
        # which are about every timeline, not events of one application.
        streams = {topic_name(prefix, stream) for stream in APPLICATION_STREAMS}
        topics = [
            t for t in await admin.list_topics() if t in streams or t.startswith(f"{prefix}.dlq.")
        ]
    finally:
        await admin.close()
    partitions = await topic_partitions(bootstrap, topics)
    # "earliest" and explicit seeks: assign then seek_to_beginning with the default
    # "latest" read nothing at all in some of bench.tracking_ingest's runs.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        for partition, start in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(partition, start)
        ends = await consumer.end_offsets(partitions)
        by_code: dict[str, list[str]] = defaultdict(list)
        where: dict[str, str] = {}
        first: dict[str, tuple[int, str, int, int]] = {}
        dead = 0
        remaining = {tp for tp in partitions if ends[tp] > 0}
        progressed = time.monotonic()
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            if batch:
                progressed = time.monotonic()
            elif time.monotonic() - progressed > STALLED_READ_S:
                # Read again from the start with a new consumer (kafka_read).
                raise KafkaTimeoutError(f"nothing read for {STALLED_READ_S:.0f}s: {remaining}")
            for tp, records in batch.items():
                for record in records:
                    if ".dlq." in tp.topic:
                        dead += 1
                        continue
                    headers = dict(record.headers)
                    code = record.key.decode() if record.key else ""
                    event_id = headers["ce_id"].decode()
                    by_code[code].append(event_id)
                    first.setdefault(
                        event_id, (record.timestamp, tp.topic, tp.partition, record.offset)
                    )
                    at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                    where[event_id] = (
                        f"{tp.topic}[{tp.partition}]@{record.offset} {at:%H:%M:%S.%f}"[:-3]
                    )
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return by_code, dead, where, first
    finally:
        await consumer.stop()


async def check(
    *,
    accepted: dict[str, Fate],
    pool: asyncpg.Pool,
    kafka_bootstrap: str,
    topic_prefix: str,
    temporal_address: str,
    pii_keys: str,
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

    # Intake: exactly the withdrawals and supplements it answered, each once.
    updates: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await pool.fetch(
        "SELECT application_code, kind FROM intake.applicant_updates"
        " WHERE kind IN ('withdrawal', 'supplement')"
    ):
        updates[r["application_code"]][r["kind"]] += 1
    found.counts["intake_withdrawals"] = sum(u[WITHDRAWAL] for u in updates.values())
    found.counts["intake_supplements"] = sum(u[SUPPLEMENT] for u in updates.values())
    problems = []
    for code in sorted(codes | set(updates)):
        fate = accepted.get(code)
        want = Counter(
            {WITHDRAWAL: int(fate.withdrawn), SUPPLEMENT: int(fate.supplemented)} if fate else {}
        )
        if updates[code] != want:
            problems.append(f"{code}: intake stores {dict(updates[code])}, answered {dict(+want)}")
    found.add("intake stores exactly the withdrawals and supplements it answered", problems)

    # Intake's own status (followed from the approval events): nothing stays `submitted`,
    # whichever topic the bridge read first (issue 21).
    intake_status = {
        r["application_code"]: r["status"]
        for r in await pool.fetch("SELECT application_code, status FROM intake.applications")
    }
    submitted = [c for c in sorted(codes) if intake_status.get(c, "submitted") == "submitted"]
    found.counts["intake_still_submitted"] = len(submitted)
    found.add(
        "every accepted application has left `submitted` in intake",
        [f"{c} ({accepted[c].describe()}): still submitted in intake" for c in submitted],
    )

    # Temporal: one workflow execution per application, completed.
    # The workflows' results are encrypted under the PII keys, as the services store them.
    converter = data_converter(EncryptionCodec.from_pii_keys(pii_keys))
    client = await Client.connect(temporal_address, data_converter=converter)
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

    # How each application ended: withdrawn if it was withdrawn, else completed, alike in
    # the workflow's result, intake's status and tracking's status.
    limit = asyncio.Semaphore(16)

    async def result(code: str) -> str:
        async with limit:
            handle = client.get_workflow_handle(code, result_type=ApplicationResult)
            return (await handle.result()).state

    finished = sorted(
        c for c in codes if runs[c] == 1 and status[c] == WorkflowExecutionStatus.COMPLETED
    )
    ended = dict(zip(finished, await asyncio.gather(*map(result, finished)), strict=True))
    tracked = {
        r["application_code"]: r["status"]
        for r in await pool.fetch(
            "SELECT application_code, status FROM tracking.application_status"
        )
    }
    problems = []
    for code in sorted(codes):
        fate = accepted[code]
        where = {
            "workflow": ended.get(code, "not finished"),
            "intake": intake_status.get(code, "not stored"),
            "tracking": tracked.get(code, "unknown"),
        }
        if where["intake"] == "submitted":
            del where["intake"]  # told above
        wrong = {k: v for k, v in where.items() if v != fate.final}
        if wrong:
            problems.append(
                f"{code} ({fate.describe()}): "
                + ", ".join(f"{k} {v}" for k, v in wrong.items())
                + f", expected {fate.final}"
            )
    found.counts["applications_withdrawn"] = sum(v == "withdrawn" for v in ended.values())
    found.add(
        "each application ended withdrawn or completed as its traffic says, alike in the"
        " workflow, intake and tracking",
        problems,
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
        fate = accepted[code]
        # Every kind of event exactly as often as the application's fate says: a
        # withdrawn one has its tasks cancelled and no decision, a supplemented one its
        # SupplementProvided, and each notification sent is on it once.
        types = Counter(short(r["ce_type"]) for r in timeline[code])
        want = fate.timeline()
        for kind in sorted(set(types) | set(want)):
            if types[kind] != want[kind]:
                problems.append(
                    f"{code} ({fate.describe()}): {types[kind]} {kind}, expected {want[kind]}"
                )
        # Each department's task once, by department: a count alone once passed one
        # department's decision twice and another's missing.
        ends = "TaskCancelled" if fate.withdrawn else "TaskDecided"
        for kind in ("TaskStarted", ends):
            seen = sorted(
                parse_event(r["ce_type"], bytes(r["data"])).department_code
                for r in timeline[code]
                if short(r["ce_type"]) == kind
            )
            expected = fate.decisions() if kind == "TaskDecided" else fate.departments
            if seen != expected:
                problems.append(f"{code}: {kind} of {seen}, expected {expected}")
    found.add("every accepted application has a complete timeline, each step once", problems)

    # No event missing: every event on Kafka is in its application's timeline.
    on_kafka, dead, where, first = await kafka_events(kafka_bootstrap, topic_prefix)
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

    # Each application's events left intake in the order intake wrote them, whichever
    # relay (or relays, taking turns) published them: its update was sent after its
    # submission (the producer's timestamps, across topics), and on one partition the
    # first copies follow the outbox's order (a redelivered copy may come later).
    previous: dict[str, tuple[int, str, int, str]] = {}
    problems = []
    pairs = 0
    for r in await pool.fetch("SELECT message_key, event_id FROM intake.outbox ORDER BY id"):
        event_id, code = str(r["event_id"]), r["message_key"]
        if event_id not in first:
            continue  # told above
        sent, topic, partition, offset = first[event_id]
        if code in previous:
            pairs += 1
            before_sent, before_topic, before_offset, before_id = previous[code]
            same_partition = before_topic == f"{topic}[{partition}]"
            if sent < before_sent or (same_partition and offset <= before_offset):
                problems.append(
                    f"{code}: {event_id} ({topic}[{partition}]@{offset}, {sent}) sent before"
                    f" {before_id} ({before_topic}@{before_offset}, {before_sent}),"
                    " which intake wrote first"
                )
        previous[code] = (sent, f"{topic}[{partition}]", offset, event_id)
    found.counts["outbox_pairs_in_order"] = pairs - len(problems)
    found.add("each application's events on Kafka in the order intake wrote them", problems)

    # Hash chains, through tracking's own verification endpoint.
    broken = []
    async with httpx.AsyncClient(timeout=30.0) as http:
        for code in sorted(codes):
            answer = await _read_within_limits(
                http,
                f"{tracking_url}/v1/applications/{code}/timeline/verification",
                staff_headers,
            )
            body = answer.json() if answer.status_code == 200 else {}
            if not body.get("intact"):
                broken.append(f"{code}: {answer.status_code} {body or answer.text[:200]}")
    found.add("every timeline's hash chain is intact", broken)

    # Notifications: each sent once, none left in doubt, each application told exactly
    # what its fate says (accepted; supplement received; approvals, completion and the
    # rating invitation, or its withdrawal).
    deliveries = await pool.fetch(
        "SELECT application_code, cause_event_type, template, status FROM notify.deliveries"
    )
    found.counts["notifications"] = len(deliveries)
    doubled = await pool.fetch(
        "SELECT application_code, body, count(*) AS n FROM notify.local_messages"
        " GROUP BY application_code, body HAVING count(*) > 1"
    )
    told: dict[str, Counter[str]] = defaultdict(Counter)
    for d in deliveries:
        if d["status"] == "sent":
            told[d["application_code"]][d["template"].removesuffix(".provisional")] += 1
    untold = []
    for code in sorted(codes | set(told)):
        want = accepted[code].notifications() if code in accepted else Counter()
        for template in sorted(set(told[code]) | set(want)):
            if told[code][template] != want[template]:
                untold.append(
                    f"{code}: {told[code][template]} {template} sent, expected {want[template]}"
                )
    found.add(
        "no notification sent twice, none in doubt, none missing",
        [
            f"{r['application_code']}: the same message sent {r['n']} times"
            for r in doubled
            if not _repeat_allowed(accepted.get(r["application_code"]), r["body"], r["n"])
        ]
        + [
            f"{d['application_code']}: {short(d['cause_event_type'])} delivery {d['status']}"
            for d in deliveries
            if d["status"] != "sent"
        ]
        + untold,
    )

    # Deferred events (an update that overtook its submission, a notification outcome
    # ahead of its cause): none still waiting once everything settled.
    if await pool.fetchval("SELECT to_regclass('platform.deferred_events') IS NOT NULL"):
        left = await pool.fetch(
            "SELECT consumer, key, topic, waiting_for, deferred_at FROM platform.deferred_events"
            " ORDER BY id"
        )
        found.counts["deferred_events_left"] = len(left)
        found.add(
            "no event left deferred",
            [
                f"{bytes(r['key']).decode(errors='replace')}: {r['consumer']} still defers"
                f" its {r['topic']} event since {r['deferred_at']:%H:%M:%S} (waits for"
                f" {r['waiting_for']})"
                for r in left
            ],
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
