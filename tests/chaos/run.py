"""Fault injection: kill -9 every process of a running system under load, lose nothing.

    .venv/bin/python -m tests.chaos.run            # the short run (also in `make test`)
    .venv/bin/python -m tests.chaos.run --long     # `make chaos`

A separate instance (tests/chaos/instance.py) is brought up from nothing. An integrator
submits applications at a steady rate, withdrawing every tenth and supplementing another
tenth right after intake's answer, and departments approve every task of the others,
while each process in turn — intake API, relay, workflow worker, bridge, department API,
tracking agent, tracking API, notify, then Kafka, Temporal and Postgres — is killed with
SIGKILL, left down for a moment and started again. The bridge is also frozen (SIGSTOP,
then SIGCONT). While the bridge is down or frozen, a burst of applications is submitted
and at once withdrawn or supplemented, so that each one's submission and update both
wait in Kafka, on two topics, when the bridge comes back (issue 21: an update read
before its submission once stalled every application behind it). Once the load is done
and the system has settled, tests/chaos/invariants.py checks that nothing was lost or
done twice, that no application stayed `submitted`, and that each ended withdrawn or
completed as its traffic says. The report (counts, faults, violations) is printed and
written as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from rich.console import Console

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.settings import PlatformSettings
from tests.chaos.instance import REPO, Instance
from tests.chaos.invariants import Fate, Findings, check, fate_of, unsettled
from tests.chaos.traffic import Traffic

console = Console(highlight=False, stderr=True)
# A crash (no shutdown hook, no flush), and a freeze (SIGSTOP, then SIGCONT: the process
# keeps its sockets, its Kafka group membership and its locks, and does nothing).
KILL = "SIGKILL"
PAUSE = "SIGSTOP"
# Seconds left for the rest to settle once a process stopped on its own.
SETTLE_GRACE = 30.0
# Services first, then the infrastructure under them.
FAULT_ORDER: tuple[tuple[str, str], ...] = (
    ("intake-api", KILL),
    ("intake-relay", KILL),
    ("workflow-worker", KILL),
    ("workflow-bridge", KILL),
    ("workflow-bridge", PAUSE),
    ("tracking-agent", KILL),
    ("notify", KILL),
    ("workflow-api", KILL),
    ("tracking-api", KILL),
    ("kafka", KILL),
    ("temporal", KILL),
    ("postgres", KILL),
)

# On a Kafka cluster of three (replication factor 3, min.insync.replicas 2): one broker at
# a time, each killed while the traffic runs; the others hold every acknowledged write.
BROKER_FAULTS: tuple[tuple[str, str], ...] = (
    ("kafka-1", KILL),
    ("kafka-2", KILL),
    ("kafka-3", KILL),
)

# With two replicas of each process: one of them at a time, alternating which; then one
# broker of the cluster at a time.
REPLICA_FAULTS: tuple[tuple[str, str], ...] = (
    ("intake-api", KILL),
    ("intake-relay-2", KILL),
    ("workflow-worker", KILL),
    ("workflow-bridge-2", KILL),
    ("workflow-bridge", PAUSE),
    ("workflow-api-2", KILL),
    ("tracking-agent", KILL),
    ("tracking-api-2", KILL),
    ("notify", KILL),
    *BROKER_FAULTS,
)

# The long run on the cluster: every process, each broker in place of the one broker.
CLUSTER_FAULTS: tuple[tuple[str, str], ...] = tuple(
    fault
    for target in FAULT_ORDER
    for fault in (BROKER_FAULTS if target[0] == "kafka" else (target,))
)


@dataclass(frozen=True)
class Plan:
    applications: int
    rate: float
    rounds: int
    # Seconds of normal running before each fault, of being down before the restart,
    # and of being frozen before SIGCONT.
    between: float
    down_for: float
    settle_within: float
    paused_for: float = 5.0
    targets: tuple[tuple[str, str], ...] = FAULT_ORDER
    # Applications submitted at once, each withdrawn or supplemented right away, while
    # one of these processes is down or frozen (on top of the steady `applications`).
    burst: int = 8
    burst_during: tuple[str, ...] = ("workflow-bridge",)
    # Replicas of every process, and Kafka's nodes: 1 or 3 (tests/chaos/instance.py).
    replicas: int = 1
    kafka_nodes: int = 1

    @classmethod
    def short(cls) -> Plan:
        # Frozen for less than the Kafka session timeout (10 s): the bridge stays in
        # its group and finds both topics' records waiting when it thaws.
        return cls(
            applications=300,
            rate=1.25,
            rounds=1,
            between=6.0,
            down_for=3.0,
            paused_for=5.0,
            settle_within=240.0,
        )

    @classmethod
    def long(cls) -> Plan:
        # Frozen for longer than the session timeout: the group moves the bridge's
        # partitions on, and the thawed bridge finds its commits refused and rejoins.
        # Kafka is the cluster of three, each broker killed in turn.
        return cls(
            applications=1800,
            rate=2.0,
            rounds=3,
            between=10.0,
            down_for=5.0,
            paused_for=15.0,
            settle_within=1200.0,
            targets=CLUSTER_FAULTS,
            kafka_nodes=3,
        )

    @classmethod
    def replicated(cls) -> Plan:
        """Two replicas of every process, and one replica of each killed at a time (the
        first or the second in turn), the bridge's also frozen: its twin takes over
        the partitions, and the burst waits on the twin, not on the restart. Kafka is
        the cluster of three, and each broker is killed in turn."""
        return cls(
            applications=150,
            rate=1.25,
            rounds=1,
            between=5.0,
            down_for=3.0,
            paused_for=5.0,
            settle_within=240.0,
            targets=REPLICA_FAULTS,
            burst_during=("workflow-bridge-2",),
            replicas=2,
            kafka_nodes=3,
        )

    @property
    def total_applications(self) -> int:
        """The steady applications and the bursts'."""
        bursts = sum(target in self.burst_during for target, _ in self.targets) * self.rounds
        return self.applications + self.burst * bursts


@dataclass
class Fault:
    target: str
    killed_at: float
    restarted_after: float
    healthy_after: float | None
    note: str = ""
    # SIGKILL, or SIGSTOP (then `killed_at` is when it was frozen, `restarted_after`
    # how long until SIGCONT).
    signal: str = KILL
    # Applications submitted and withdrawn or supplemented during the fault, and how
    # long after the fault all their events were on Kafka (None: not within the wait).
    burst: int = 0
    burst_on_kafka_after: float | None = None
    # A broker's fault: how long after it until every replica was in sync again.
    in_sync_after: float | None = None


@dataclass
class Report:
    plan: dict[str, object]
    started: str
    seconds: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)
    # Process -> when it was seen stopped on its own, and how its log ends.
    stopped: dict[str, str] = field(default_factory=dict)
    # Application code -> what the traffic did to every application intake accepted
    # (not in the JSON).
    accepted: dict[str, Fate] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return sum(len(v) for v in self.violations.values())

    def as_json(self) -> dict[str, object]:
        body = asdict(self)
        del body["accepted"]
        body["faults_injected"] = len(self.faults)
        body["lost"] = self.lost
        return body


def say(message: str, t0: float) -> None:
    now = datetime.now(UTC)
    console.print(f"[dim]{time.monotonic() - t0:7.1f}s {now:%H:%M:%S}[/] {message}")


async def inject(
    instance: Instance,
    plan: Plan,
    t0: float,
    report: Report,
    traffic: Traffic,
    pool: asyncpg.Pool,
) -> None:
    loop = asyncio.get_running_loop()
    for round_ in range(plan.rounds):
        for target, how in plan.targets:
            await asyncio.sleep(plan.between)
            if report.faults:
                await note_stopped(
                    instance, report, f"after the {report.faults[-1].target} fault", t0
                )
            struck = time.monotonic()
            fault = Fault(target, struck - t0, 0.0, None, signal=how)
            try:
                if how == PAUSE:
                    await loop.run_in_executor(None, instance.pause, target)
                    say(f"round {round_ + 1}: froze [bold]{target}[/] (SIGSTOP)", t0)
                else:
                    await loop.run_in_executor(None, instance.kill, target)
                    say(f"round {round_ + 1}: killed [bold]{target}[/] (SIGKILL)", t0)
                held = asyncio.create_task(
                    asyncio.sleep(plan.paused_for if how == PAUSE else plan.down_for)
                )
                if target in plan.burst_during and plan.burst:
                    await burst(traffic, pool, plan.burst, fault, struck, t0)
                await held
            finally:
                if how == PAUSE:
                    await loop.run_in_executor(None, instance.resume, target)
            fault.restarted_after = time.monotonic() - struck
            try:
                if how == KILL:
                    await loop.run_in_executor(None, instance.start, target)
                else:
                    say(f"{target} thawed (SIGCONT)", t0)
                await recover(instance, loop)
                fault.healthy_after = time.monotonic() - struck
                say(f"{target} back; all healthy after {fault.healthy_after:.1f}s", t0)
                if target.startswith("kafka-"):
                    # One broker down at a time means the next is killed only once this
                    # one has caught up; killing it sooner leaves a partition a single
                    # replica, which the brokers may then elect uncleanly.
                    await replicas_in_sync(instance, target)
                    fault.in_sync_after = time.monotonic() - struck
                    say(f"every replica in sync after {fault.in_sync_after:.1f}s", t0)
            except RuntimeError as exc:
                fault.note = brief(str(exc))
                say(f"[red]{target} did not recover[/]: {fault.note}", t0)
            report.faults.append(fault)
    if report.faults:
        await note_stopped(instance, report, f"after the {report.faults[-1].target} fault", t0)


def brief(failure: str, tail: int = 400) -> str:
    """A script's failure for the report: its ERROR lines (what failed and why), then the
    end of the output after them (the log tail it printed)."""
    errors = [line.strip() for line in failure.splitlines() if "ERROR:" in line]
    end = failure[-tail:]
    return " / ".join([*errors, end]) if errors else end


async def note_stopped(instance: Instance, report: Report, when: str, t0: float) -> None:
    """Note the processes that stopped on their own since the last look: a finding (they
    are not restarted, unless a later fault of their own starts them again)."""
    for name, last in (await asyncio.to_thread(instance.stopped)).items():
        if name not in report.stopped:
            report.stopped[name] = f"{when} ({time.monotonic() - t0:.0f}s); its log ends: {last}"
            say(f"[red]{name} stopped on its own[/] {report.stopped[name]}", t0)


async def burst(
    traffic: Traffic, pool: asyncpg.Pool, count: int, fault: Fault, struck: float, t0: float
) -> None:
    """`count` applications submitted and at once withdrawn or supplemented, then wait
    (at most 30 s) until the relay has put all their events on Kafka."""
    codes = await traffic.burst(count, within=120.0)
    fault.burst = len(codes)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL"
            " AND message_key = ANY($1)",
            codes,
        )
        if waiting == 0:
            fault.burst_on_kafka_after = time.monotonic() - struck
            say(
                f"burst: {len(codes)} applications submitted and withdrawn or supplemented,"
                f" all on Kafka {fault.burst_on_kafka_after:.1f}s into the fault",
                t0,
            )
            return
        await asyncio.sleep(0.2)
    say(f"[yellow]burst: {waiting} events of the burst still in intake's outbox[/]", t0)


async def recover(
    instance: Instance, loop: asyncio.AbstractEventLoop, within: float = 90.0
) -> None:
    """Wait until every process runs and every service is healthy again.

    A process that died on its own because a dependency vanished is a finding, so it is
    not restarted silently: the caller records the failure, at once (nothing would
    start it again).
    """
    deadline = time.monotonic() + within
    while True:
        try:
            await loop.run_in_executor(None, instance.wait_healthy)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            stopped = await loop.run_in_executor(None, instance.stopped)
            if stopped:
                raise RuntimeError(
                    "; ".join(
                        f"{name} stopped, its log ends: {last}" for name, last in stopped.items()
                    )
                ) from None
            await asyncio.sleep(1.0)


async def topic_layout(bootstrap: str, prefix: str) -> dict[str, tuple[int, int]]:
    """Per partition (`topic/n`) of the instance's topics: its replicas and in-sync ones."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(f"{prefix}.")]
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        f"{topic['topic']}/{partition['partition']}": (
            len(partition["replicas"]),
            len(partition["isr"]),
        )
        for topic in described
        for partition in topic["partitions"]
    }


async def replicas_in_sync(instance: Instance, broker: str, within: float = 90.0) -> None:
    """Wait until `broker` answers itself and every partition of the instance's topics has
    all its replicas in sync."""
    deadline = time.monotonic() + within
    while True:
        try:
            # Through the broker alone: its answer shows it is serving again.
            await topic_layout(instance.broker_address(broker), instance.topic_prefix)
            layout = await topic_layout(instance.kafka_bootstrap, instance.topic_prefix)
            behind = sorted(n for n, (replicas, in_sync) in layout.items() if in_sync < replicas)
        except KafkaError as exc:  # a broker just restarted may not answer yet
            behind = [repr(exc)]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"replicas not in sync within {within:.0f}s: {behind[:5]}")
        await asyncio.sleep(1.0)


async def settle(
    instance: Instance,
    traffic: Traffic,
    pool: asyncpg.Pool,
    report: Report,
    plan: Plan,
    t0: float,
) -> None:
    """Until every application has ended as its traffic says in intake and tracking, with
    its whole timeline and every notification sent (tests/chaos/invariants.unsettled).

    A process that stopped on its own after its recovery will not be restarted (that is
    a finding), so what waits on it never settles: then only a short grace is left for
    the rest to finish before the checks."""
    deadline = time.monotonic() + plan.settle_within
    while time.monotonic() < deadline:
        accepted = report.accepted
        lagging = await unsettled(pool, accepted)
        if not lagging and traffic.undecided == 0:
            say(f"settled: {len(accepted)} applications ended as expected in every store", t0)
            return
        behind = ", ".join(f"{n} {why}" for why, n in lagging.most_common())
        say(
            f"settling: {len(accepted) - lagging.total()}/{len(accepted)} done"
            f" ({behind or 'none behind'}), {traffic.undecided} tasks undecided",
            t0,
        )
        await note_stopped(instance, report, "while settling", t0)
        if report.stopped and deadline - time.monotonic() > SETTLE_GRACE:
            deadline = time.monotonic() + SETTLE_GRACE
            say(f"[red]{SETTLE_GRACE:.0f}s left for the rest to settle[/]", t0)
        await asyncio.sleep(3.0)
    say("[red]did not settle in time; checking what is there[/]", t0)


async def run(plan: Plan, *, keep: bool, output: Path) -> Report:
    t0 = time.monotonic()
    started = datetime.now(UTC)
    report = Report(plan=asdict(plan), started=started.isoformat())
    instance = Instance(replicas=plan.replicas, kafka_nodes=plan.kafka_nodes)
    say(
        "bringing up a separate instance (.run/chaos, ports 15432/19092/17233/18000-18003),"
        f" {plan.replicas} of every process, {plan.kafka_nodes} Kafka node(s)",
        t0,
    )
    await asyncio.to_thread(instance.up)
    say("instance up", t0)
    key = json.loads(
        await asyncio.to_thread(
            instance.cli,
            str(REPO / ".venv/bin/onceonly-intake"),
            "integrator",
            "create",
            "chaos load",
            "--reuse",
            "--json",
        )
    )["api_key"]
    tokens = StaffTokens.from_settings(chaos_settings(), StaffApi.DEPARTMENT)
    traffic = Traffic(instance.urls("intake"), instance.urls("workflow"), key, tokens)
    pool = await asyncpg.create_pool(instance.database_url, min_size=0, max_size=4)
    try:
        stop_deciding = asyncio.Event()
        decider = asyncio.create_task(traffic.decide(stop_deciding))
        submitter = asyncio.create_task(
            traffic.submit(plan.applications, plan.rate, within=plan.applications / plan.rate + 600)
        )
        await inject(instance, plan, t0, report, traffic, pool)
        say(f"faults done ({len(report.faults)}); {len(traffic.accepted)} accepted so far", t0)
        await submitter
        say(
            f"all {len(traffic.accepted)} applications accepted"
            f" ({traffic.sent['withdrawal']} withdrawn, {traffic.sent['supplement']}"
            " supplemented)",
            t0,
        )
        report.accepted = {
            code: fate_of(a.matter, a.updates, burst=a.burst, practised=a.practised)
            for code, a in traffic.accepted.items()
        }
        await settle(instance, traffic, pool, report, plan, t0)
        stop_deciding.set()
        await decider
        await note_stopped(instance, report, "at the end", t0)
        in_metrics = await asyncio.to_thread(work_in_metrics, instance)
        findings = await check_instance(instance, pool, report)
        findings.add(
            "every process stays up after its recovery",
            [f"{name} stopped on its own {when}" for name, when in report.stopped.items()],
        )
        report.counts = {
            **findings.counts,
            "decisions": traffic.decided,
            "withdrawals_sent": traffic.sent["withdrawal"],
            "supplements_sent": traffic.sent["supplement"],
            "burst_applications": sum(a.burst for a in traffic.accepted.values()),
            "practised_applications": sum(a.practised for a in traffic.accepted.values()),
            "extensions_approved": traffic.practice["extensions"],
            "returns": traffic.practice["returns"],
            "departments_added": traffic.practice["departments_added"],
            **read_back(instance.run_dir / "logs"),
            **deferrals(instance.run_dir / "logs"),
            **{
                f"work_{name}": n
                for name, n in (
                    work_per_replica(instance.run_dir / "logs", instance.processes) | in_metrics
                ).items()
                if instance.replicas > 1
            },
        }
        report.violations = findings.violations
        for fault in report.faults:
            if fault.healthy_after is None:
                report.violations.setdefault("every process recovers", []).append(
                    f"{fault.target}: {fault.note}"
                )
        report.retries = dict(traffic.retries)
    finally:
        await pool.close()
        report.seconds = round(time.monotonic() - t0, 1)
        await asyncio.to_thread(write_report, report, output)
        if not keep:
            await asyncio.to_thread(instance.down)
    return report


def read_back(logs: Path) -> dict[str, int]:
    """What the tracking agents (each replica) read back from Kafka themselves
    (onceonly.tracking.continuity), from their logs: `skipped_recorded` records the
    consumer had skipped would have been lost; `idle_*` ones were read at the end of a
    partition the consumer left idle."""
    totals: dict[str, int] = dict.fromkeys(
        (
            f"tracking_read_back_{why}_{outcome}"
            for why in ("skipped", "idle")
            for outcome in ("recorded", "duplicate")
        ),
        0,
    )
    lines = (
        line
        for agent_log in sorted(logs.glob("tracking-agent*.log"))
        for line in agent_log.read_text(errors="replace").splitlines()
    )
    for entry in logged(lines, "offsets read back processed"):
        for key in list(totals):
            totals[key] += int(entry.get(key.removeprefix("tracking_read_back_"), 0))
    return totals


def logged(lines: Iterable[str], *events: str) -> Iterator[dict[str, Any]]:
    """The JSON log lines among `lines` whose event is one of `events` (only lines that
    quote one are parsed: most are not)."""
    quoted = [f'"{event}"' for event in events]
    for line in lines:
        if not any(q in line for q in quoted):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("event") in events:
            yield entry


def deferrals(logs: Path) -> dict[str, int]:
    """Events each consumer set aside because what they need was not handled yet, and
    those it handled later (onceonly.platform.deferral), from the processes' logs."""
    totals: dict[str, int] = {}
    for process, name in (
        ("workflow-bridge", "bridge"),
        ("notify", "notify"),
        ("tracking-agent", "tracking"),
    ):
        lines = (
            line
            for log in sorted(logs.glob(f"{process}*.log"))  # every replica's
            for line in log.read_text(errors="replace").splitlines()
        )
        counted = Counter(
            entry["event"] for entry in logged(lines, "event deferred", "deferred event handled")
        )
        totals[f"{name}_events_deferred"] = counted["event deferred"]
        totals[f"{name}_deferred_handled"] = counted["deferred event handled"]
    return totals


# The event of the log line each process writes for a piece of its work (the relays
# take turns by design, and the tracking API serves only the checks, so they have none
# here).
WORK_LINES = {
    "intake-api": "application submitted",
    "workflow-api": "request",
    "workflow-worker": "shared-data checks decided",
    "workflow-bridge": "workflow started",
    "tracking-agent": "event recorded",
    "notify": "notification outcome",
}


def work_per_replica(logs: Path, processes: tuple[str, ...]) -> dict[str, int]:
    """Per replica of each process in WORK_LINES, how many pieces of work its log shows."""
    done = {}
    for name in processes:
        event = WORK_LINES.get(name.removesuffix("-2"))
        if event is None:
            continue
        log = logs / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        done[name] = sum(1 for _ in logged(text.splitlines(), event))
    return done


# Processes whose work shows in their metrics rather than their log: the port variable
# of their endpoint and the counters summed (over every label set).
WORK_METRICS = {
    "workflow-worker": (
        "ONCEONLY_WORKER_TEMPORAL_METRICS_PORT",
        ("temporal_activity_task_received_total", "temporal_local_activity_total_total"),
    ),
    "intake-relay": ("ONCEONLY_RELAY_METRICS_PORT", ("onceonly_intake_relay_published_total",)),
}


def work_in_metrics(instance: Instance) -> dict[str, int]:
    """Per replica of each process in WORK_METRICS, its counters now (since its last
    start: a killed replica counts only what it did after its restart)."""
    done = {}
    for name in instance.processes:
        process = name.removesuffix("-2")
        if process not in WORK_METRICS:
            continue
        variable, counters = WORK_METRICS[process]
        url = f"http://127.0.0.1:{instance.port(name, variable)}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            done[name] = 0
            continue
        done[name] = int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.split("{", 1)[0].split(" ", 1)[0] in counters
            )
        )
    return done


def chaos_settings() -> PlatformSettings:
    """The instance's keys: deploy/local/env's development ones (explicitly), unless the
    environment gives others."""
    return PlatformSettings(environment="development")


def write_report(report: Report, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report.as_json(), ensure_ascii=False, indent=2, default=str))


async def check_instance(instance: Instance, pool: asyncpg.Pool, report: Report) -> Findings:
    settings = chaos_settings()
    tracking = StaffTokens.from_settings(settings, StaffApi.TRACKING)
    supervisor = tracking.issue(
        staff_id="chaos-sup", department_code="supervision-office", roles=("supervision",)
    )
    return await check(
        accepted=report.accepted,
        pool=pool,
        kafka_bootstrap=instance.kafka_bootstrap,
        topic_prefix=instance.topic_prefix,
        temporal_address=instance.temporal_address,
        pii_keys=settings.pii_keys.get_secret_value(),
        tracking_url=instance.url("tracking"),
        staff_headers={"Authorization": f"Bearer {supervisor}"},
        started=datetime.fromisoformat(report.started),
    )


async def recheck() -> Report:
    """The invariants of a kept instance, every application intake stored counting as
    accepted (a run's own list of answers is gone with its process)."""
    kept = Instance()
    instance = Instance(kafka_nodes=3 if (kept.run_dir / "pids/kafka-1.pid").exists() else 1)
    pool = await asyncpg.create_pool(instance.database_url, min_size=0, max_size=4)
    try:
        rows = await pool.fetch(
            "SELECT a.application_code, a.matter_code, a.submitted_at,"
            " array_remove(array_agg(u.kind ORDER BY u.created_at), NULL) AS updates"
            " FROM intake.applications a LEFT JOIN intake.applicant_updates u"
            "  USING (application_code) GROUP BY 1, 2, 3"
        )
        first = min(row["submitted_at"] for row in rows)
        report = Report(plan={}, started=first.isoformat())
        # The traffic's practice is not stored anywhere it owns: an extension decided on
        # the timeline marks a practised application.
        practised = {
            row["application_code"]
            for row in await pool.fetch(
                "SELECT DISTINCT application_code FROM tracking.timeline"
                " WHERE ce_type = 'onceonly.events.v1.ExtensionDecided'"
            )
        }
        report.accepted = {
            row["application_code"]: fate_of(
                row["matter_code"],
                row["updates"],
                practised=row["application_code"] in practised,
            )
            for row in rows
        }
        findings = await check_instance(instance, pool, report)
        report.counts = {
            **findings.counts,
            **read_back(instance.run_dir / "logs"),
            **deferrals(instance.run_dir / "logs"),
        }
        report.violations = findings.violations
        return report
    finally:
        await pool.close()


def show(report: Report) -> None:
    console.print(f"\n[bold]Fault injection[/] ({report.seconds}s)")
    struck = ", ".join(
        f.target + (" (frozen)" if f.signal == PAUSE else "") + (f" +{f.burst}" if f.burst else "")
        for f in report.faults
    )
    console.print(f"  faults injected: {len(report.faults)} ({struck})")
    for name, value in sorted(report.counts.items()):
        console.print(f"  {name}: {value}")
    console.print(f"  client retries: {sum(report.retries.values())} {report.retries}")
    for invariant, problems in report.violations.items():
        mark = "[green]ok[/]" if not problems else f"[red]{len(problems)} violations[/]"
        console.print(f"  {mark}  {invariant}")
        for line in problems[:10]:
            console.print(f"        {line}")
    console.print(f"  lost: [bold]{report.lost}[/]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long", action="store_true", help="the long run of `make chaos`")
    parser.add_argument(
        "--replicated",
        action="store_true",
        help="two replicas of every process, one killed at a time (with --long: 3 rounds)",
    )
    parser.add_argument(
        "--applications", type=int, help="override the plan's number of applications"
    )
    parser.add_argument("--keep", action="store_true", help="leave the instance running afterwards")
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="only check the invariants on an instance left running by --keep",
    )
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/chaos-latest.json")
    args = parser.parse_args(argv)
    if args.check_only:
        report = asyncio.run(recheck())
        show(report)
        return 0 if report.lost == 0 else 1
    plan = Plan.long() if args.long else Plan.short()
    if args.replicated:
        replicated = Plan.replicated()
        plan = (
            replicated
            if not args.long
            else Plan(
                **{
                    **asdict(plan),
                    "targets": replicated.targets,
                    "replicas": 2,
                    "burst_during": replicated.burst_during,
                    "kafka_nodes": replicated.kafka_nodes,
                }
            )
        )
    if args.applications:
        plan = Plan(**{**asdict(plan), "applications": args.applications})
    report = asyncio.run(run(plan, keep=args.keep, output=args.output))
    show(report)
    console.print(f"report: {args.output}")
    return 0 if report.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
