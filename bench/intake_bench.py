"""Benchmark 1: intake's durable accept rate against raw asyncpg inserts and commits."""

from __future__ import annotations

from bench.config import Plan
from bench.context import Run
from bench.load import LoadResult, closed_loop, open_loop
from bench.profile import profile_while
from bench.quiesce import wait_until_quiet
from bench.raw_postgres import raw_writer, scratch_schema, template_rows
from bench.report import Section, Target
from bench.services import DOWNSTREAM, stopped
from bench.stats import per_second, ratio, summarize
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.db import create_pool

WARM_UP = 20


def _figures(result: LoadResult) -> dict[str, object]:
    return {
        "offered": result.offered,
        "accepted": result.ok,
        "failed": result.failed,
        "seconds": round(result.seconds, 2),
        "per_second": per_second(result.ok, result.seconds),
        "latency": summarize(result.latencies).as_dict(),
        "late_starts": result.late_starts,
        "not_sent": result.not_sent,
        "abandoned": result.abandoned,
    }


async def run_intake(run: Run) -> Section:
    plan = run.plan
    section = Section("intake")
    statuses: dict[int | str, int] = {}

    step = run.step("intake: warm-up")
    warm = await closed_loop(run.submitter("warm-up", statuses), concurrency=4, seconds=1.0)
    step.done()
    if not run.accepted["warm-up"]:
        raise RuntimeError(f"intake accepted nothing in the warm-up: {statuses}")
    del warm
    # The warm-up's applications flow through the workflow side for a while; the raw
    # phase measured on top of that would measure their CPU too.
    await wait_until_quiet(run, within=plan.settle_seconds, what="intake: after the warm-up")

    pool_size = IntakeSettings().database_pool_max
    pool = await create_pool(run.endpoints.database_url, max_size=pool_size, min_size=pool_size)
    try:
        application, event = await template_rows(pool, run.accepted["warm-up"][0].code)
        async with scratch_schema(run.endpoints.database_url, f"{plan.run_id}_raw") as schema:
            write = raw_writer(pool, schema, application, event)
            step = run.step(f"raw asyncpg: closed loop x{plan.concurrency}")
            run.monitor.begin("raw-asyncpg-closed-loop")
            raw_max = await closed_loop(
                write, concurrency=plan.concurrency, seconds=plan.intake_seconds, tick=step
            )
            run.monitor.end()
            step = run.step(f"raw asyncpg: open loop {plan.intake_rate}/s")
            raw_open = await open_loop(
                write, rate=plan.intake_rate, seconds=plan.intake_seconds, tick=step
            )
    finally:
        await pool.close()

    system_open, system_max = await _intake_phases(run, statuses, "")
    # Intake on its own: the consumers downstream (bridge, worker, tracking agent,
    # notify) stopped, so that their CPU does not count against intake's; intake-api and
    # intake-relay keep running. The relay's topics hold what was submitted meanwhile,
    # and the consumers catch up once started again (also on error or Ctrl-C).
    profile: dict[str, object] | None = None
    step = run.step("intake isolated: stopping the consumers")
    async with stopped(DOWNSTREAM):
        step.done()
        isolated_open, isolated_max = await _intake_phases(run, statuses, "isolated")
        checked = _targets(plan, system_open, system_max, raw_max) + _targets(
            plan, isolated_open, isolated_max, raw_max
        )
        if any(t.met is not True for t in checked):
            step = run.step(f"intake isolated: py-spy profile {plan.profile_seconds:g} s")
            profile = await profile_while(
                ["intake-api"],
                lambda: closed_loop(
                    run.submitter("intake-profile", statuses),
                    concurrency=plan.concurrency,
                    seconds=plan.profile_seconds,
                    tick=step,
                ),
                seconds=plan.profile_seconds,
                run_id=plan.run_id,
                label="intake",
            )
        step = run.step("intake isolated: starting the consumers")
    step.done()

    phases = {"whole_system": (system_open, system_max), "isolated": (isolated_open, isolated_max)}
    section.system = {
        "endpoint": "POST /v1/applications",
        "whole_system": {
            "what": "every process running: the consumers downstream share the cores",
            **_phase_figures(plan, system_open, system_max),
        },
        "isolated": {
            "what": "workflow-bridge, workflow-worker, tracking-agent and notify stopped;"
            " intake-api, intake-relay, the APIs, Kafka, Temporal and Postgres running",
            **_phase_figures(plan, isolated_open, isolated_max),
        },
        "http_statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "integrator_keys": len(run.keys.tokens),
    }
    section.raw = {
        "what": "sequence upsert + INSERT application + INSERT outbox in one transaction,"
        f" asyncpg pool of {pool_size} (intake's pool size), scratch schema",
        f"open_loop_{plan.intake_rate}_per_s": _figures(raw_open),
        f"closed_loop_{plan.concurrency}_clients": _figures(raw_max),
    }
    raw_rate = per_second(raw_max.ok, raw_max.seconds)
    section.ratio = {
        "max_accept_rate_vs_raw": ratio(per_second(system_max.ok, system_max.seconds), raw_rate),
        "isolated_max_accept_rate_vs_raw": ratio(
            per_second(isolated_max.ok, isolated_max.seconds), raw_rate
        ),
    }
    section.targets = [
        *_targets(plan, system_open, system_max, raw_max),
        *_targets(plan, isolated_open, isolated_max, raw_max, label="isolated: "),
    ]
    for label, (open_result, _) in phases.items():
        if open_result.late_starts:
            section.notes.append(
                f"{label}: {open_result.late_starts} requests started >10 ms late: the load"
                " generator (this process) was short of CPU; latency is measured from the"
                " scheduled instant."
            )
    section.notes.append(
        "The load is spread over bench integrators (intake limits each to 10 POST/s by"
        " default); requests carry no Idempotency-Key."
    )
    for name in (
        "intake-open-loop",
        "intake-closed-loop",
        "intake-isolated-open-loop",
        "intake-isolated-closed-loop",
    ):
        phase = run.monitor.phase(name)
        if phase is not None:
            section.bound_by[f"cores_busy_{name}"] = dict(run.monitor.busiest(phase, count=4))
    # What bounds the rate on this machine: the CPU one accepted application costs,
    # summed over every process (the bench's load generator included).
    for name, result in (
        ("raw-asyncpg-closed-loop", raw_max),
        ("intake-closed-loop", system_max),
        ("intake-isolated-closed-loop", isolated_max),
    ):
        phase = run.monitor.phase(name)
        if phase is not None:
            section.bound_by[f"cpu_ms_per_application_{name}"] = run.monitor.cpu_per_item(
                phase, result.ok
            )
    if profile is not None:
        section.profile = profile
    return section


async def _intake_phases(
    run: Run, statuses: dict[int | str, int], label: str
) -> tuple[LoadResult, LoadResult]:
    """The open loop at the planned rate, then the closed loop (the maximum rate)."""
    plan = run.plan
    prefix = f"intake-{label}-" if label else "intake-"
    title = f"intake {label}" if label else "intake"
    step = run.step(f"{title}: open loop {plan.intake_rate}/s")
    run.monitor.begin(f"{prefix}open-loop")
    open_result = await open_loop(
        run.submitter(f"{prefix}open", statuses),
        rate=plan.intake_rate,
        seconds=plan.intake_seconds,
        tick=step,
    )
    step = run.step(f"{title}: closed loop x{plan.concurrency}")
    run.monitor.begin(f"{prefix}closed-loop")
    closed_result = await closed_loop(
        run.submitter(f"{prefix}closed", statuses),
        concurrency=plan.concurrency,
        seconds=plan.intake_seconds,
        tick=step,
    )
    run.monitor.end()
    return open_result, closed_result


def _phase_figures(plan: Plan, open_result: LoadResult, closed: LoadResult) -> dict[str, object]:
    return {
        f"open_loop_{plan.intake_rate}_per_s": _figures(open_result),
        f"closed_loop_{plan.concurrency}_clients": _figures(closed),
    }


def _targets(
    plan: Plan, open_result: LoadResult, closed: LoadResult, raw: LoadResult, *, label: str = ""
) -> list[Target]:
    rate = per_second(closed.ok, closed.seconds)
    return [
        Target(f"{label}max accepted applications/s", rate, ">=", 1000, "/s"),
        Target(
            f"{label}p99 latency at {plan.intake_rate}/s",
            summarize(open_result.latencies).p99_ms,
            "<=",
            50,
            "ms",
        ),
        Target(
            f"{label}share of the raw asyncpg rate",
            ratio(rate, per_second(raw.ok, raw.seconds)),
            ">=",
            0.5,
        ),
    ]
