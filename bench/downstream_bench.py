"""Benchmark 4: tracking's and notify's capacity, each draining a backlog against a raw
aiokafka read of the same records (and against its durable writes done raw).

Beside the drains it reports the passive rates over every application of the run
(events/s into timelines, notifications/s through the local provider), over the middle
90 % of their events. Those follow the rate the run offered, not a capacity, so they
have no raw counterpart and no ratio (until 2026-12-07 they were divided by a raw read
of every stream topic and read 0.000 to 0.002 in every plan).
"""

from __future__ import annotations

from bench.context import Run
from bench.notify_drain import run_notify_drain
from bench.report import Section, Target
from bench.stats import rate_over_time, ratio
from bench.tracking_drain import run_tracking_drain
from onceonly.platform.db import create_pool


async def run_downstream(run: Run) -> Section:
    section = Section("downstream")
    drain = await run_tracking_drain(run)
    notify_drain = await run_notify_drain(run)
    accepted = [a for phase in run.accepted.values() for a in phase]
    if not accepted:
        raise RuntimeError("no applications in this run")  # the drain submitted some
    codes = [a.code for a in accepted]
    pool = await create_pool(run.endpoints.database_url, max_size=2)
    try:
        step = run.step("downstream: tracking and notify rates")
        recorded = await pool.fetch(
            "SELECT extract(epoch FROM recorded_at) AS at FROM tracking.timeline"
            " WHERE application_code = ANY($1::text[])",
            codes,
        )
        sent = await pool.fetch(
            "SELECT extract(epoch FROM created_at) AS at FROM notify.local_messages"
            " WHERE application_code = ANY($1::text[])",
            codes,
        )
        step.done()
    finally:
        await pool.close()
    section.system = {
        "applications": len(codes),
        "timeline_entries": len(recorded),
        "tracking_events_per_s": rate_over_time([float(r["at"]) for r in recorded]),
        "notifications": len(sent),
        "notifications_per_s": rate_over_time([float(r["at"]) for r in sent]),
    }
    section.system["tracking_drain"] = drain["system"]
    section.raw["tracking_drain"] = drain["raw"]
    section.raw["tracking_drain_write"] = drain["raw_write"]
    section.system["notify_drain"] = notify_drain["system"]
    section.raw["notify_drain"] = notify_drain["raw"]
    section.raw["notify_drain_write"] = notify_drain["raw_write"]
    # One profile per drain, each of its own process.
    profiles = [p for p in (drain["profile"], notify_drain["profile"]) if p]
    section.profile = {
        "phase": ", ".join(p["phase"] for p in profiles),
        "processes": {k: v for p in profiles for k, v in p["processes"].items()},
    }
    section.bound_by["cores_busy_tracking_drain"] = drain["cores_busy"]
    section.bound_by["cores_busy_notify_drain"] = notify_drain["cores_busy"]
    # What the durable work alone, written raw, reaches of the raw read: a drain at 0.5
    # of the raw read needs a raw write above 0.5 of it first. A property of the machine
    # and the rows, not of the consumer, so not among the ratios that `compare` scores.
    section.bound_by["raw_write_vs_raw_consume"] = {
        "tracking_drain": ratio(drain["raw_write"]["events_per_s"], drain["raw"]["records_per_s"]),
        "notify_drain": ratio(
            notify_drain["raw_write"]["records_per_s"], notify_drain["raw"]["records_per_s"]
        ),
    }
    section.ratio = {
        "tracking_drain_events_per_s_vs_raw_consume": drain["ratio"],
        # Against the durable writes alone (no target: what the agent adds to them).
        "tracking_drain_events_per_s_vs_raw_write": drain["ratio_to_raw_write"],
        "notify_drain_records_per_s_vs_raw_consume": notify_drain["ratio"],
        # Against its durable writes and outcome events alone (no target, as tracking's).
        "notify_drain_records_per_s_vs_raw_write": notify_drain["ratio_to_raw_write"],
    }
    section.notes.append(
        "tracking_drain, notify_drain: the consumer stopped while applications flowed,"
        " then started: its rate working through the backlog is its capacity. The other"
        " rates are passive, over every application of the run: they follow the rate"
        " offered."
    )
    section.targets = [
        Target("tracking drain / raw consume of the same records", drain["ratio"], ">=", 0.5),
        Target("notify drain / raw consume of the same records", notify_drain["ratio"], ">=", 0.5),
    ]
    section.notes.append(
        "The raw read does no work per record (no group, no commits, no database): tracking"
        " records each event durably (hash chain, status projection) and notify writes its"
        " ledger before and after each send, in batches; the drains' cores_busy and"
        " profiles show what bounds them."
    )
    return section
