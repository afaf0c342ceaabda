"""Benchmark 1: intake's durable accept rate against raw asyncpg inserts and commits.

Intake is measured on its own, on a scratch intake of the run (bench.scratch_intake: its
own API and relay processes, database and topics), so that the thousands of applications
of its phases never reach the running system's workflow side. The raw comparison issues
the same writes straight through asyncpg, in a scratch schema of that database.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.config import Plan
from bench.context import Accepted, Run, submitter
from bench.integrators import bench_keys, keys_needed
from bench.load import LoadResult, Send, closed_loop, open_loop
from bench.profile import profile_while
from bench.publish_lag import published_lag
from bench.raw_postgres import raw_writer, scratch_schema, template_rows
from bench.report import Section, Target
from bench.scratch_intake import API, RELAY, ScratchIntake, scratch_intake
from bench.stats import per_second, ratio, summarize
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.db import create_pool
from onceonly.platform.topics import Stream, topic_name

PHASES = ("intake-open-loop", "intake-closed-loop")


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
    step = run.step("intake: starting a scratch intake (API, relay)")
    async with (
        scratch_intake(run.endpoints, plan.run_id, run.monitor) as scratch,
        bench_keys(scratch.database_url, keys_needed(plan.intake_rate * 4)) as keys,
    ):
        step.done()
        accepted: dict[str, list[Accepted]] = {}
        statuses: dict[int | str, int] = {}

        def send(phase: str) -> Send:
            return submitter(
                run.http,
                url=scratch.url,
                keys=keys,
                run_id=plan.run_id,
                found=accepted.setdefault(phase, []),
                statuses=statuses,
            )

        return await _measure(run, scratch, send, accepted, statuses, len(keys.tokens))


async def _measure(
    run: Run,
    scratch: ScratchIntake,
    send: Callable[[str], Send],
    accepted: dict[str, list[Accepted]],
    statuses: dict[int | str, int],
    key_count: int,
) -> Section:
    plan = run.plan
    section = Section("intake")
    step = run.step("intake: warm-up")
    await closed_loop(send("warm-up"), concurrency=4, seconds=1.0)
    step.done()
    if not accepted["warm-up"]:
        raise RuntimeError(f"intake accepted nothing in the warm-up: {statuses}")

    pool_size = IntakeSettings().database_pool_max
    pool = await create_pool(scratch.database_url, max_size=pool_size, min_size=pool_size)
    try:
        application, event = await template_rows(pool, accepted["warm-up"][0].code)
        async with scratch_schema(scratch.database_url, f"{plan.run_id}_raw") as schema:
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

        step = run.step(f"intake: open loop {plan.intake_rate}/s")
        run.monitor.begin("intake-open-loop")
        open_result = await open_loop(
            send("intake-open"), rate=plan.intake_rate, seconds=plan.intake_seconds, tick=step
        )
        step = run.step(f"intake: closed loop x{plan.concurrency}")
        run.monitor.begin("intake-closed-loop")
        closed = await closed_loop(
            send("intake-closed"),
            concurrency=plan.concurrency,
            seconds=plan.intake_seconds,
            tick=step,
        )
        run.monitor.end()

        # The relay benchmark reports the scratch relay's lag: measured now, while its
        # database and topic still exist.
        step = run.step("intake: the relay's publish lag")
        topic = topic_name(scratch.topic_prefix, Stream.SUBMISSIONS)
        for phase in ("intake-open", "intake-closed"):
            run.publish_lag[phase] = await published_lag(
                pool, run.endpoints.kafka, topic, accepted.get(phase, [])
            )
        step.done()
    finally:
        await pool.close()

    closed_phase = run.monitor.phase("intake-closed-loop")
    cpu = run.monitor.cpu_per_item(closed_phase, closed.ok) if closed_phase else {}
    section.targets = _targets(plan, open_result, closed, raw_max, cpu)
    if any(t.met is not True for t in section.targets):
        step = run.step(f"intake: py-spy profile {plan.profile_seconds:g} s")
        section.profile = await profile_while(
            [API],
            lambda: closed_loop(
                send("intake-profile"),
                concurrency=plan.concurrency,
                seconds=plan.profile_seconds,
                tick=step,
            ),
            seconds=plan.profile_seconds,
            run_id=plan.run_id,
            label="intake",
            pids=scratch.pids,
        )

    section.system = {
        "endpoint": "POST /v1/applications",
        "what": f"a scratch intake of the run ({API}, {RELAY}: the same binaries and"
        " settings as the running ones) on its own database and topics, which nothing"
        " consumes; Kafka, Postgres and the running system's processes share the cores",
        **_phase_figures(plan, open_result, closed),
        "http_statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "integrator_keys": key_count,
    }
    section.raw = {
        "what": "sequence upsert + INSERT application + INSERT outbox in one transaction,"
        f" asyncpg pool of {pool_size} (intake's pool size), scratch schema",
        f"open_loop_{plan.intake_rate}_per_s": _figures(raw_open),
        f"closed_loop_{plan.concurrency}_clients": _figures(raw_max),
    }
    section.ratio = {
        "max_accept_rate_vs_raw": ratio(
            per_second(closed.ok, closed.seconds), per_second(raw_max.ok, raw_max.seconds)
        ),
    }
    if open_result.late_starts:
        section.notes.append(
            f"{open_result.late_starts} requests started >10 ms late: the load generator"
            " (this process) was short of CPU; latency is measured from the scheduled"
            " instant."
        )
    section.notes.append(
        "The load is spread over bench integrators (intake limits each to 10 POST/s by"
        " default); requests carry no Idempotency-Key."
    )
    for name in PHASES:
        phase = run.monitor.phase(name)
        if phase is not None:
            section.bound_by[f"cores_busy_{name}"] = dict(run.monitor.busiest(phase, count=4))
    # What bounds the rate on this machine: the CPU one accepted application costs,
    # summed over every process (the bench's load generator included).
    for name, result in (("raw-asyncpg-closed-loop", raw_max), ("intake-closed-loop", closed)):
        phase = run.monitor.phase(name)
        if phase is not None:
            section.bound_by[f"cpu_ms_per_application_{name}"] = run.monitor.cpu_per_item(
                phase, result.ok
            )
    return section


def _phase_figures(plan: Plan, open_result: LoadResult, closed: LoadResult) -> dict[str, object]:
    return {
        f"open_loop_{plan.intake_rate}_per_s": _figures(open_result),
        f"closed_loop_{plan.concurrency}_clients": _figures(closed),
    }


def _targets(
    plan: Plan,
    open_result: LoadResult,
    closed: LoadResult,
    raw: LoadResult,
    cpu: dict[str, float],
) -> list[Target]:
    """The issue's targets for intake on its own."""
    rate = per_second(closed.ok, closed.seconds)
    return [
        Target(
            "CPU per accepted application (every process but the load generator)",
            intake_cpu_ms(cpu),
            "<=",
            2,
            "ms",
        ),
        Target(
            "closed-loop rate / raw asyncpg's",
            ratio(rate, per_second(raw.ok, raw.seconds)),
            ">=",
            0.6,
        ),
        Target(
            f"p99 latency at {plan.intake_rate}/s offered",
            summarize(open_result.latencies).p99_ms,
            "<=",
            50,
            "ms",
        ),
    ]


def intake_cpu_ms(cpu: dict[str, float]) -> float | None:
    """The CPU milliseconds one accepted application cost every process but the bench's
    own load generator (None when the phase was not measured)."""
    if "total" not in cpu:
        return None
    return round(cpu["total"] - cpu.get("bench", 0.0), 3)
