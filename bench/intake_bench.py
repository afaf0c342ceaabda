"""Benchmark 1: intake's durable accept rate against raw asyncpg inserts and commits."""

from __future__ import annotations

from bench.context import Run
from bench.load import LoadResult, closed_loop, open_loop
from bench.raw_postgres import raw_writer, scratch_schema, template_rows
from bench.report import Section, Target
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
    statuses: dict[int, int] = {}

    step = run.step("intake: warm-up")
    warm = await closed_loop(run.submitter("warm-up", statuses), concurrency=4, seconds=1.0)
    step.done()
    if not run.accepted["warm-up"]:
        raise RuntimeError(f"intake accepted nothing in the warm-up: {statuses}")
    del warm

    pool_size = IntakeSettings().database_pool_max
    pool = await create_pool(run.endpoints.database_url, max_size=pool_size, min_size=pool_size)
    try:
        application, event = await template_rows(pool, run.accepted["warm-up"][0].code)
        async with scratch_schema(run.endpoints.database_url, f"{plan.run_id}_raw") as schema:
            write = raw_writer(pool, schema, application, event)
            step = run.step(f"raw asyncpg: closed loop x{plan.concurrency}")
            raw_max = await closed_loop(
                write, concurrency=plan.concurrency, seconds=plan.intake_seconds, tick=step
            )
            step = run.step(f"raw asyncpg: open loop {plan.intake_rate}/s")
            raw_open = await open_loop(
                write, rate=plan.intake_rate, seconds=plan.intake_seconds, tick=step
            )
    finally:
        await pool.close()

    step = run.step(f"intake: open loop {plan.intake_rate}/s")
    run.monitor.begin("intake-open-loop")
    system_open = await open_loop(
        run.submitter("intake-open", statuses),
        rate=plan.intake_rate,
        seconds=plan.intake_seconds,
        tick=step,
    )
    step = run.step(f"intake: closed loop x{plan.concurrency}")
    run.monitor.begin("intake-closed-loop")
    system_max = await closed_loop(
        run.submitter("intake-closed", statuses),
        concurrency=plan.concurrency,
        seconds=plan.intake_seconds,
        tick=step,
    )
    run.monitor.end()

    section.system = {
        "endpoint": "POST /v1/applications",
        f"open_loop_{plan.intake_rate}_per_s": _figures(system_open),
        f"closed_loop_{plan.concurrency}_clients": _figures(system_max),
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "integrator_keys": len(run.keys.tokens),
    }
    section.raw = {
        "what": "sequence upsert + INSERT application + INSERT outbox in one transaction,"
        f" asyncpg pool of {pool_size} (intake's pool size), scratch schema",
        f"open_loop_{plan.intake_rate}_per_s": _figures(raw_open),
        f"closed_loop_{plan.concurrency}_clients": _figures(raw_max),
    }
    system_rate = per_second(system_max.ok, system_max.seconds)
    raw_rate = per_second(raw_max.ok, raw_max.seconds)
    section.ratio = {"max_accept_rate_vs_raw": ratio(system_rate, raw_rate)}
    p99 = summarize(system_open.latencies).p99_ms
    section.targets = [
        Target("max accepted applications/s", system_rate, ">=", 1000, "/s"),
        Target(f"p99 latency at {plan.intake_rate}/s", p99, "<=", 50, "ms"),
        Target("share of the raw asyncpg rate", section.ratio["max_accept_rate_vs_raw"], ">=", 0.5),
    ]
    if system_open.late_starts:
        section.notes.append(
            f"{system_open.late_starts} requests started >10 ms late: the load generator"
            " (this process) was short of CPU; latency is measured from the scheduled instant."
        )
    section.notes.append(
        "The load is spread over bench integrators (intake limits each to 10 POST/s by"
        " default); requests carry no Idempotency-Key."
    )
    for name in ("intake-open-loop", "intake-closed-loop"):
        phase = run.monitor.phase(name)
        if phase is not None:
            section.bound_by[f"cores_busy_{name}"] = dict(run.monitor.busiest(phase, count=4))
    return section
