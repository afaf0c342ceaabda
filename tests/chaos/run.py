"""Fault injection: kill -9 every process of a running system under load, lose nothing.

    .venv/bin/python -m tests.chaos.run            # the short run (also in `make test`)
    .venv/bin/python -m tests.chaos.run --long     # `make chaos`

A separate instance (tests/chaos/instance.py) is brought up from nothing. An integrator
submits applications at a steady rate and departments approve every task, while each
process in turn — intake API, relay, workflow worker, bridge, department API, tracking
agent, tracking API, notify, then Kafka, Temporal and Postgres — is killed with SIGKILL,
left down for a moment and started again. Once the load is done and the system has
settled, tests/chaos/invariants.py checks that nothing was lost or done twice. The
report (counts, faults, violations) is printed and written as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from rich.console import Console

from onceonly.platform.auth import issue_staff_token
from onceonly.platform.settings import PlatformSettings
from tests.chaos.instance import REPO, Instance
from tests.chaos.invariants import Findings, check
from tests.chaos.traffic import Traffic

console = Console(highlight=False, stderr=True)
# Services first, then the infrastructure under them.
FAULT_ORDER = (
    "intake-api",
    "intake-relay",
    "workflow-worker",
    "workflow-bridge",
    "tracking-agent",
    "notify",
    "workflow-api",
    "tracking-api",
    "kafka",
    "temporal",
    "postgres",
)


@dataclass(frozen=True)
class Plan:
    applications: int
    rate: float
    rounds: int
    # Seconds of normal running before each kill, and of being down before the restart.
    between: float
    down_for: float
    settle_within: float
    targets: tuple[str, ...] = FAULT_ORDER

    @classmethod
    def short(cls) -> Plan:
        return cls(
            applications=300,
            rate=1.25,
            rounds=1,
            between=6.0,
            down_for=3.0,
            settle_within=240.0,
        )

    @classmethod
    def long(cls) -> Plan:
        return cls(
            applications=1800, rate=2.0, rounds=3, between=10.0, down_for=5.0, settle_within=1200.0
        )


@dataclass
class Fault:
    target: str
    killed_at: float
    restarted_after: float
    healthy_after: float | None
    note: str = ""


@dataclass
class Report:
    plan: dict[str, object]
    started: str
    seconds: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)
    # Application code -> matter of every application intake accepted (not in the JSON).
    accepted: dict[str, str] = field(default_factory=dict)

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


async def inject(instance: Instance, plan: Plan, t0: float, report: Report) -> None:
    loop = asyncio.get_running_loop()
    for round_ in range(plan.rounds):
        for target in plan.targets:
            await asyncio.sleep(plan.between)
            killed = time.monotonic()
            await loop.run_in_executor(None, instance.kill, target)
            say(f"round {round_ + 1}: killed [bold]{target}[/] (SIGKILL)", t0)
            await asyncio.sleep(plan.down_for)
            fault = Fault(target, killed - t0, time.monotonic() - killed, None)
            try:
                await loop.run_in_executor(None, instance.start, target)
                await recover(instance, loop)
                fault.healthy_after = time.monotonic() - killed
                say(f"{target} back; all healthy after {fault.healthy_after:.1f}s", t0)
            except RuntimeError as exc:
                fault.note = str(exc)[-500:]
                say(f"[red]{target} did not recover[/]: {fault.note}", t0)
            report.faults.append(fault)


async def recover(
    instance: Instance, loop: asyncio.AbstractEventLoop, within: float = 90.0
) -> None:
    """Wait until every process runs and every service is healthy again.

    A process that died on its own because a dependency vanished is a finding, so it is
    not restarted silently: the caller records the failure.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            await loop.run_in_executor(None, instance.wait_healthy)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def settle(
    instance: Instance, traffic: Traffic, pool: asyncpg.Pool, plan: Plan, t0: float
) -> None:
    """Until every application has completed in the timeline and its completion was told."""
    deadline = time.monotonic() + plan.settle_within
    codes = list(traffic.accepted)
    while time.monotonic() < deadline:
        done = await pool.fetchval(
            "SELECT count(DISTINCT t.application_code) FROM tracking.timeline t"
            " JOIN notify.deliveries d ON d.application_code = t.application_code"
            "  AND d.cause_event_type LIKE '%ApplicationCompleted' AND d.status = 'sent'"
            " WHERE t.ce_type LIKE '%ApplicationCompleted' AND t.application_code = ANY($1)",
            codes,
        )
        if done == len(codes) and traffic.undecided == 0:
            say(f"settled: {done} applications completed and notified", t0)
            return
        say(f"settling: {done}/{len(codes)} completed, {traffic.undecided} tasks undecided", t0)
        await asyncio.sleep(3.0)
    say("[red]did not settle in time; checking what is there[/]", t0)


async def run(plan: Plan, *, keep: bool, output: Path) -> Report:
    t0 = time.monotonic()
    started = datetime.now(UTC)
    report = Report(plan=asdict(plan), started=started.isoformat())
    instance = Instance()
    say("bringing up a separate instance (.run/chaos, ports 15432/19092/17233/18000-18003)", t0)
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
    secret = PlatformSettings().signing_secret.get_secret_value()
    traffic = Traffic(instance.url("intake"), instance.url("workflow"), key, secret)
    pool = await asyncpg.create_pool(instance.database_url, min_size=0, max_size=4)
    try:
        stop_deciding = asyncio.Event()
        decider = asyncio.create_task(traffic.decide(stop_deciding))
        submitter = asyncio.create_task(
            traffic.submit(plan.applications, plan.rate, within=plan.applications / plan.rate + 600)
        )
        await inject(instance, plan, t0, report)
        say(f"faults done ({len(report.faults)}); {len(traffic.accepted)} accepted so far", t0)
        await submitter
        say(f"all {len(traffic.accepted)} applications accepted", t0)
        await settle(instance, traffic, pool, plan, t0)
        stop_deciding.set()
        await decider
        report.accepted = {code: a.matter for code, a in traffic.accepted.items()}
        findings = await check_instance(instance, pool, report)
        report.counts = {
            **findings.counts,
            "decisions": traffic.decided,
            **read_back(instance.run_dir / "logs" / "tracking-agent.log"),
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


def read_back(agent_log: Path) -> dict[str, int]:
    """What the tracking agent read back from Kafka itself (onceonly.tracking.continuity),
    from its log: `skipped_recorded` records the consumer had skipped would have been lost;
    `idle_*` ones were read at the end of a partition the consumer left idle."""
    totals: dict[str, int] = dict.fromkeys(
        (
            f"tracking_read_back_{why}_{outcome}"
            for why in ("skipped", "idle")
            for outcome in ("recorded", "duplicate")
        ),
        0,
    )
    if not agent_log.exists():
        return totals
    for line in agent_log.read_text(errors="replace").splitlines():
        if '"offsets read back processed"' not in line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        for key in list(totals):
            totals[key] += int(entry.get(key.removeprefix("tracking_read_back_"), 0))
    return totals


def write_report(report: Report, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report.as_json(), ensure_ascii=False, indent=2, default=str))


async def check_instance(instance: Instance, pool: asyncpg.Pool, report: Report) -> Findings:
    secret = PlatformSettings().signing_secret.get_secret_value()
    supervisor = issue_staff_token(
        secret, staff_id="chaos-sup", department_code="supervision-office", roles=("supervision",)
    )
    return await check(
        accepted=report.accepted,
        pool=pool,
        kafka_bootstrap=instance.kafka_bootstrap,
        topic_prefix=instance.topic_prefix,
        temporal_address=instance.temporal_address,
        tracking_url=instance.url("tracking"),
        staff_headers={"Authorization": f"Bearer {supervisor}"},
        started=datetime.fromisoformat(report.started),
    )


async def recheck() -> Report:
    """The invariants of a kept instance, every application intake stored counting as
    accepted (a run's own list of answers is gone with its process)."""
    instance = Instance()
    pool = await asyncpg.create_pool(instance.database_url, min_size=0, max_size=4)
    try:
        rows = await pool.fetch(
            "SELECT application_code, matter_code, submitted_at FROM intake.applications"
        )
        first = min(row["submitted_at"] for row in rows)
        report = Report(plan={}, started=first.isoformat())
        report.accepted = {row["application_code"]: row["matter_code"] for row in rows}
        findings = await check_instance(instance, pool, report)
        report.counts = {
            **findings.counts,
            **read_back(instance.run_dir / "logs" / "tracking-agent.log"),
        }
        report.violations = findings.violations
        return report
    finally:
        await pool.close()


def show(report: Report) -> None:
    console.print(f"\n[bold]Fault injection[/] ({report.seconds}s)")
    console.print(
        f"  faults injected: {len(report.faults)} ({', '.join(f.target for f in report.faults)})"
    )
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
    if args.applications:
        plan = Plan(**{**asdict(plan), "applications": args.applications})
    report = asyncio.run(run(plan, keep=args.keep, output=args.output))
    show(report)
    console.print(f"report: {args.output}")
    return 0 if report.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
