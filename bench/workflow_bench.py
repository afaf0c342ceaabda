"""Benchmark 3: workflow start rate and end-to-end latency, against the Temporal dev
server's raw rate of starting an empty workflow.

End to end, per application: accepted (intake's 201 reached the client) → workflow
started (Temporal's start time) → first timeline entry (tracking recorded the
submission) → ApplicationAccepted recorded (the workflow's first event, through the
worker, Kafka and tracking: the target's measure) → ApplicationCompleted recorded.

The workflow start rate is measured on a bounded burst of its own (the plan's
`burst_applications`, submitted as fast as intake takes them): every JointApproval start
between the first and the last of the burst's, while the bridge works through it. Both
phases use the running system; the run's drain-and-clean step (bench.cleanup) waits for
their workflows afterwards.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.context import Accepted, Run
from bench.empty_workflow import EmptyWorkflow
from bench.load import LoadResult, Send, Tick, open_loop
from bench.profile import profile_while
from bench.report import Section, Target
from bench.stats import per_second, rate_over_time, ratio, summarize
from onceonly.platform.db import create_pool

ACCEPTED = "onceonly.events.v1.ApplicationAccepted"
COMPLETED = "onceonly.events.v1.ApplicationCompleted"
ISSUE_E2E_RATE = 15  # applications/s of the issue's end-to-end target


async def _timeline_marks(pool: asyncpg.Pool, codes: list[str]) -> dict[str, dict[str, float]]:
    rows = await pool.fetch(
        """
        SELECT application_code,
               min(recorded_at) AS first,
               min(recorded_at) FILTER (WHERE ce_type = $2) AS accepted,
               min(recorded_at) FILTER (WHERE ce_type = $3) AS completed
        FROM tracking.timeline WHERE application_code = ANY($1::text[])
        GROUP BY application_code
        """,
        codes,
        ACCEPTED,
        COMPLETED,
    )
    return {
        r["application_code"]: {
            k: r[k].timestamp() for k in ("first", "accepted", "completed") if r[k] is not None
        }
        for r in rows
    }


async def wait_for_timelines(
    run: Run, pool: asyncpg.Pool, accepted: list[Accepted], mark: str, tick: Tick
) -> dict[str, dict[str, float]]:
    """Poll until every application has `mark` in its timeline (bounded)."""
    codes = [a.code for a in accepted]
    start = time.monotonic()
    while True:
        marks = await _timeline_marks(pool, codes)
        done = sum(1 for m in marks.values() if mark in m)
        tick(done / max(1, len(codes)))
        if done >= len(codes) or time.monotonic() - start > run.plan.settle_seconds:
            return marks
        await asyncio.sleep(1.0)


async def workflow_starts(client: Client, codes: set[str], since: datetime) -> dict[str, float]:
    """Temporal's start time of each of `codes` (from the visibility store)."""
    query = f"WorkflowType = 'JointApproval' AND StartTime >= '{since.isoformat()}'"
    found: dict[str, float] = {}
    async for execution in client.list_workflows(query, page_size=1000):
        if execution.id in codes:
            found[execution.id] = execution.start_time.timestamp()
    return found


async def starts_between(client: Client, first: float, last: float) -> int:
    """How many JointApproval workflows (of any application) started in [first, last]."""
    low = datetime.fromtimestamp(first, UTC).isoformat()
    high = datetime.fromtimestamp(last, UTC).isoformat()
    found = await client.count_workflows(
        f"WorkflowType = 'JointApproval' AND StartTime >= '{low}' AND StartTime <= '{high}'"
    )
    return found.count


async def _raw_starts(run: Run, client: Client, tick: Tick) -> tuple[int, float]:
    """Start the planned number of empty workflows from `concurrency` clients; the
    number started and the seconds it took."""
    queue = f"{run.plan.run_id}-empty"
    total = run.plan.temporal_starts
    slots = iter(range(total))
    started = 0

    async def client_loop() -> None:
        nonlocal started
        for i in slots:
            await client.start_workflow(
                EmptyWorkflow.run,
                id=f"{run.plan.run_id}-empty-{i}",
                task_queue=queue,
                execution_timeout=timedelta(minutes=10),
            )
            started += 1
            tick(started / total)

    async with Worker(
        client,
        task_queue=queue,
        workflows=[EmptyWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        begin = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(client_loop() for _ in range(run.plan.concurrency))),
            timeout=run.plan.settle_seconds,
        )
        return started, time.perf_counter() - begin


async def burst(send: Send, *, count: int, concurrency: int, tick: Tick) -> LoadResult:
    """Send `count` requests from `concurrency` clients, each as soon as its previous
    answer came (a closed loop bounded by count, not time)."""
    result = LoadResult()
    slots = iter(range(count))
    start = time.perf_counter()

    async def client() -> None:
        for i in slots:
            sent = time.perf_counter()
            result.offered += 1
            try:
                ok = await send(i)
            except Exception:
                ok = False
            if ok:
                result.ok += 1
                result.latencies.append(time.perf_counter() - sent)
            else:
                result.failed += 1
            tick(result.offered / count)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result


async def _burst_starts(
    run: Run, client: Client, since: datetime
) -> tuple[LoadResult, list[Accepted], dict[str, float]]:
    """Submit the planned burst, then wait (bounded by the settle time) until the bridge
    has started the workflow of each of its applications; their start times."""
    plan = run.plan
    statuses: dict[int | str, int] = {}
    step = run.step(f"workflow: burst of {plan.burst_applications:,} applications")
    run.monitor.begin("burst")
    load = await burst(
        run.submitter("burst", statuses),
        count=plan.burst_applications,
        concurrency=plan.concurrency,
        tick=step,
    )
    accepted = run.accepted.get("burst", [])
    codes = {a.code for a in accepted}
    step = run.step("workflow: the burst's workflows starting")
    begin = time.monotonic()
    while True:
        starts = await workflow_starts(client, codes, since)
        step(len(starts) / max(1, len(codes)))
        if len(starts) >= len(codes) or time.monotonic() - begin > plan.settle_seconds:
            break
        await asyncio.sleep(1.0)
    run.monitor.end()
    step.done()
    return load, accepted, starts


async def run_workflow(run: Run) -> Section:
    plan = run.plan
    section = Section("workflow")
    settings = run.endpoints.settings
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)

    since = datetime.now(UTC) - timedelta(seconds=5)
    statuses: dict[int | str, int] = {}
    step = run.step(f"e2e: {plan.e2e_rate} applications/s")
    run.monitor.begin("e2e")
    load = await open_loop(
        run.submitter("e2e", statuses), rate=plan.e2e_rate, seconds=plan.e2e_seconds, tick=step
    )
    accepted = run.accepted.get("e2e", [])
    pool = await create_pool(run.endpoints.database_url, max_size=2)
    try:
        step = run.step("e2e: waiting for the timelines")
        marks = await wait_for_timelines(run, pool, accepted, "completed", step)
        run.monitor.end()
        starts = await workflow_starts(client, {a.code for a in accepted}, since)
    finally:
        await pool.close()

    def delays(mark: str) -> list[float]:
        return [marks[a.code][mark] - a.at for a in accepted if mark in marks.get(a.code, {})]

    to_running = [starts[a.code] - a.at for a in accepted if a.code in starts]
    e2e = summarize(delays("accepted"))
    section.system = {
        "offered_per_s": plan.e2e_rate,
        "seconds": plan.e2e_seconds,
        "accepted": load.ok,
        "intake_latency": summarize(load.latencies).as_dict(),
        "accepted_to_workflow_started": summarize(to_running).as_dict(),
        "accepted_to_first_timeline_entry": summarize(delays("first")).as_dict(),
        "accepted_to_workflow_accepted_in_timeline": e2e.as_dict(),
        "accepted_to_completed_in_timeline": summarize(delays("completed")).as_dict(),
        "not_completed_within_settle": sum(
            1 for a in accepted if "completed" not in marks.get(a.code, {})
        ),
        "workflow_start_rate_e2e_per_s": rate_over_time(list(starts.values())),
    }
    step = run.step(f"raw Temporal: start {plan.temporal_starts:,} empty workflows")
    run.monitor.begin("raw-temporal")
    started, seconds = await _raw_starts(run, client, step)
    run.monitor.end()
    raw_rate = per_second(started, seconds)
    section.raw = {
        "what": f"client.start_workflow of an empty workflow, {plan.concurrency} concurrent,"
        " own task queue and worker (in the bench process)",
        "started": started,
        "seconds": round(seconds, 2),
        "starts_per_s": raw_rate,
    }

    burst_since = datetime.now(UTC) - timedelta(seconds=5)
    burst_load, burst_accepted, burst_starts = await _burst_starts(run, client, burst_since)
    # While the burst's workflows were being started, the bridge may also have started
    # others (anything else submitted meanwhile): its rate is every start in that
    # window, not only the burst's.
    window = (min(burst_starts.values()), max(burst_starts.values())) if burst_starts else None
    all_in_window = await starts_between(client, *window) if window else 0
    section.system["burst"] = {
        "applications": len(burst_accepted),
        "submitted_per_s": per_second(burst_load.ok, burst_load.seconds),
        "failed": burst_load.failed,
        "workflows_started": len(burst_starts),
        "workflow_start_rate_per_s": rate_over_time(list(burst_starts.values())),
        "all_starts_during_burst_per_s": per_second(all_in_window, window[1] - window[0])
        if window and window[1] > window[0]
        else None,
    }
    best = (
        section.system["burst"]["all_starts_during_burst_per_s"]
        or section.system["burst"]["workflow_start_rate_per_s"]
        or section.system["workflow_start_rate_e2e_per_s"]
    )
    section.ratio = {"workflow_starts_per_s_vs_raw": ratio(best, raw_rate)}
    e2e_phase = run.monitor.phase("e2e")
    e2e_cpu = run.monitor.cpu_per_item(e2e_phase, len(accepted)) if e2e_phase else {}
    section.targets = [
        Target(
            f"e2e p99 at {plan.e2e_rate}/s (accepted → in timeline)", e2e.p99_ms, "<=", 2000, "ms"
        ),
        Target(
            "CPU per auto-approved application, every process but the load generator",
            round(e2e_cpu["total"] - e2e_cpu.get("bench", 0.0), 1) if "total" in e2e_cpu else None,
            "<=",
            90,
            "ms",
        ),
    ]
    if plan.e2e_rate != ISSUE_E2E_RATE:
        section.notes.append(
            f"The issue's end-to-end target is at {ISSUE_E2E_RATE}/s; this run offered"
            f" {plan.e2e_rate}/s (--e2e-rate), to find the rate the target holds at."
        )
    section.notes.append(
        f"Workflow start rate (system) is measured on a burst of {plan.burst_applications:,}"
        " applications submitted as fast as intake takes them (the bridge starting"
        " workflows as fast as it can): every JointApproval start between the first and"
        " the last of the burst's; else at the e2e load."
    )
    # Not met, or not measurable (nothing reached the timeline within the settle time).
    if any(t.met is not True for t in section.targets):
        step = run.step(f"workflow: py-spy profile {plan.profile_seconds:g} s")
        section.profile = await profile_while(
            ["workflow-bridge", "workflow-worker"],
            lambda: open_loop(
                run.submitter("workflow-profile", statuses),
                rate=plan.e2e_rate,
                seconds=plan.profile_seconds,
                tick=step,
            ),
            seconds=plan.profile_seconds,
            run_id=plan.run_id,
            label="workflow",
        )
    for name, items in (("e2e", len(accepted)), ("raw-temporal", started)):
        phase = run.monitor.phase(name)
        if phase is not None:
            section.bound_by[f"cores_busy_{name}"] = dict(run.monitor.busiest(phase, count=4))
            # The CPU one application (one empty workflow) costs, over every process.
            section.bound_by[f"cpu_ms_per_item_{name}"] = run.monitor.cpu_per_item(phase, items)
    # Not per application: the burst's workflows are started, not finished, by its end.
    phase = run.monitor.phase("burst")
    if phase is not None:
        section.bound_by["cores_busy_burst"] = dict(run.monitor.busiest(phase, count=4))
    return section
