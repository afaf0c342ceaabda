"""Benchmark 5: supervision timer precision. N JointApproval workflows (one open task
each) run on a worker of this benchmark (bench.supervision_worker: the real workflow
and activities, deadlines seconds away); the delay from each task's deadline to its
red alert on Kafka is measured. The raw figure is Temporal's own timer lateness: the
alert's raised_at (the workflow's clock when the timer fired) minus the deadline.

Workflows close themselves (execution timeout) shortly after the run; the scratch
topics are deleted.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from bench.config import REPO, RESULTS
from bench.context import Run
from bench.kafka_tools import delete_topics, read_since
from bench.report import Section, Target
from bench.stats import per_second, summarize
from onceonly.events.v1 import supervision_pb2
from onceonly.platform.kafka import ensure_topics
from onceonly.platform.topics import Stream, all_topics, topic_name
from onceonly.workflow.payload_codec import EncryptionCodec, data_converter
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import WORKFLOW_NAME, ApplicationInput, ContactInput

MATTER = "household-transfer"  # one task: one supervised task clock per workflow
MATERIALS = ["transfer-application", "resident-id", "housing-proof", "household-register"]
# Assumed start rate for the first deadline's lead; the figure actually reached is
# reported (tasks still being opened when deadlines fall make those alerts late).
ASSUMED_STARTS_PER_S = 40.0


def _input(code: str) -> ApplicationInput:
    return ApplicationInput(
        application_code=code,
        matter_code=MATTER,
        integrator_id="bench",
        applicant_kind="person",
        materials=list(MATERIALS),
        contact=ContactInput(),
        submitted_at=datetime.now(UTC).isoformat(),
    )


async def run_supervision(run: Run) -> Section:
    plan = run.plan
    section = Section("supervision")
    prefix = f"{plan.run_id}-sup"
    queue = f"{plan.run_id}-supervision"
    n = plan.open_tasks
    m = plan.due_tasks
    await ensure_topics(run.endpoints.kafka, all_topics(prefix))
    plan_file = RESULTS / f"{plan.run_id}-supervision-plan.tmp"
    lead = n / ASSUMED_STARTS_PER_S + 15.0
    # Its log goes next to the results: a worker that fails shows up as missing alerts.
    worker_log = (RESULTS / f"{plan.run_id}-supervision-worker.log").open("w")
    worker = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below
        [sys.executable, "-m", "bench.supervision_worker", queue, prefix, str(plan_file)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=worker_log,
        text=True,
    )
    run.monitor.add("supervision-worker", worker.pid)
    settings = run.endpoints.settings
    # Started as the bridge starts them: payloads encrypted under the PII keys.
    codec = EncryptionCodec.from_pii_keys(settings.pii_keys.get_secret_value())
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(codec),
    )
    try:
        assert worker.stdout is not None
        ready = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 60)
        if ready.strip() != "ready":
            raise RuntimeError("the supervision worker did not start")
        # Its stdout must be drained from now on: a full pipe blocked the worker's
        # logging, and with it the worker, once it had written 64 KiB (no alerts then).
        threading.Thread(
            target=shutil.copyfileobj, args=(worker.stdout, worker_log), daemon=True
        ).start()
        # The deadlines are planned from now, once the worker is ready.
        t0 = time.time() + lead
        plan_file.write_text(
            json.dumps({"t0": t0, "spread": plan.deadline_spread, "n": n, "due": m})
        )
        step = run.step(f"supervision: open {n:,} tasks")
        run.monitor.begin("supervision-start")
        slots = iter(range(n))
        opened = 0
        begin = time.perf_counter()
        timeout = timedelta(seconds=lead + plan.deadline_spread + 120)

        async def starter() -> None:
            nonlocal opened
            for i in slots:
                await client.start_workflow(
                    WORKFLOW_NAME,
                    _input(f"{plan.run_id}-sup-{i:06d}"),
                    id=f"{plan.run_id}-sup-{i:06d}",
                    task_queue=queue,
                    execution_timeout=timeout,
                )
                opened += 1
                step(opened / n)

        await asyncio.gather(*(starter() for _ in range(plan.concurrency)))
        start_seconds = time.perf_counter() - begin
        step = run.step(f"supervision: deadlines over {plan.deadline_spread:g} s")
        run.monitor.begin("supervision-deadlines")
        end = t0 + plan.deadline_spread + 10
        waiting_since = time.time()
        while (now := time.time()) < end:
            step((now - waiting_since) / max(1e-3, end - waiting_since))
            await asyncio.sleep(0.5)
        # Alerts still coming (a slow machine) are waited for, within the settle time.
        while True:
            records, _ = await read_since(
                run.endpoints.kafka,
                [topic_name(prefix, Stream.SUPERVISION_ALERTS)],
                int((t0 - plan.deadline_spread - 5) * 1000),
                idle_seconds=3.0,
            )
            if len(_red(records)) >= m or time.time() > end + plan.settle_seconds:
                break
            await asyncio.sleep(2.0)
        run.monitor.end()
        step.done()
    finally:
        worker.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(worker.wait), 30)
        except TimeoutError:
            worker.kill()
        run.monitor.remove("supervision-worker")
        worker_log.close()
        plan_file.unlink(missing_ok=True)
        await delete_topics(run.endpoints.kafka, prefix + ".")

    published: list[float] = []
    fired: list[float] = []
    seen: set[str] = set()
    for record, alert in _red(records):
        if alert.application_code in seen:
            continue
        seen.add(alert.application_code)
        due = alert.clock.due_at.ToDatetime(UTC).timestamp()
        published.append(max(0.0, record.timestamp / 1000 - due))
        fired.append(max(0.0, alert.raised_at.ToDatetime(UTC).timestamp() - due))
    late = summarize(published)
    timers = summarize(fired)
    tuning = WorkflowSettings()
    section.system = {
        # The bench worker's tuning, from the same ONCEONLY_WORKER_* settings as the
        # service's: a task evicted from the cache is replayed when its timer fires.
        "worker_max_cached_workflows": tuning.worker_max_cached_workflows,
        "worker_sandbox": tuning.worker_sandbox,
        "open_tasks": n,
        "due_tasks": m,
        "tasks_opened": opened,
        "start_seconds": round(start_seconds, 2),
        "starts_per_s": per_second(opened, start_seconds),
        "opened_before_first_deadline": opened if begin_wall(begin) + start_seconds <= t0 else None,
        "deadline_spread_s": plan.deadline_spread,
        "red_alerts_seen": len(seen),
        "deadline_to_red_alert_on_kafka": late.as_dict(),
    }
    section.raw = {
        "what": "Temporal timer lateness: the alert's raised_at (workflow time when the"
        " timer fired and its task ran) minus the deadline",
        "deadline_to_timer_fired": timers.as_dict(),
    }
    section.ratio = {}
    # The measure: what the alert adds to Temporal's own timer lateness in the same
    # run (a timer that fires late cannot be alerted on earlier), at most 250 ms at p99.
    section.targets = [
        Target(
            f"red alert p99 lateness with {n:,} open tasks ({m:,} due), beyond Temporal's"
            " own timer lateness p99",
            None
            if late.p99_ms is None or timers.p99_ms is None
            else round(late.p99_ms - timers.p99_ms, 1),
            "<=",
            250,
            "ms",
        ),
        Target("red alerts seen / tasks due", round(len(seen) / m, 3) if m else None, ">=", 1.0),
    ]
    if begin_wall(begin) + start_seconds > t0:
        section.notes.append(
            "Opening the tasks took longer than the planned lead: deadlines fell while tasks"
            " were still being opened, which makes the first alerts late."
        )
    for name in ("supervision-start", "supervision-deadlines"):
        phase = run.monitor.phase(name)
        if phase is not None:
            section.bound_by[f"cores_busy_{name}"] = dict(run.monitor.busiest(phase, count=4))
    return section


def _red(records: list) -> list[tuple[object, supervision_pb2.SupervisionAlert]]:
    """The red alerts of task clocks (first ones, not escalation reminders)."""
    found = []
    for record in records:
        alert = supervision_pb2.SupervisionAlert()
        alert.ParseFromString(record.value)
        if (
            alert.level == supervision_pb2.SUPERVISION_LEVEL_RED
            and alert.department_code
            and alert.escalation == 0
        ):
            found.append((record, alert))
    return found


def begin_wall(perf_begin: float) -> float:
    """The wall-clock time of a perf_counter instant."""
    return time.time() - (time.perf_counter() - perf_begin)
