"""`python -m bench.task_list_bench [--applications 50] [--concurrency 20] [--rounds 5]`

The department API's task list, before and after the task list table, on the local
Postgres and Temporal (make infra): N open applications run by an in-process worker (the
real activities, events to the in-memory broker), then `concurrency` list calls at once,
`rounds` times, each way:

- before: the visibility query, then one Temporal query per application (the list as
  it was; here the query is also limited to this run's task queue, so that other
  runs' workflows, whose workers may be gone, do not time out into the figures);
- after: `GET /v1/tasks` of the department API as it is now (one visibility query,
  one read of `workflow.task_list`), in process.

Prints JSON (latencies in ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from typing import Any

import httpx
import typer

from bench.stats import summarize
from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.memory_kafka import MemoryBroker, MemoryProducer
from onceonly.platform.pii import PiiSealer
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.api import create_app
from onceonly.workflow.api.workflow_client import ApplicationWorkflows
from onceonly.workflow.elicences import InMemoryELicenceStore
from onceonly.workflow.registry import InMemoryBaseRegistry, load_seed
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationInput,
    ApplicationResult,
    ContactInput,
    TaskState,
)
from onceonly.workflow.task_list import PostgresTaskList
from onceonly.workflow.temporal import connect
from onceonly.workflow.worker import build_worker

DEPARTMENT = "public-security"
MATERIALS = ["transfer-application", "resident-id", "housing-proof", "household-register"]

cli = typer.Typer(add_completion=False, help=__doc__)


def _settings() -> WorkflowSettings:
    queue = f"bench-tasks-{uuid.uuid4().hex[:8]}"
    return WorkflowSettings(
        environment="development",
        database_url=os.environ.get(
            "ONCEONLY_TEST_DATABASE_URL",
            "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly_test",
        ),
        temporal_task_queue=queue,
        topic_prefix=queue,
        # No staff read limit in the way of the measurement.
        workflow_api_staff_read_rate_per_second=1e6,
        workflow_api_staff_read_burst=1_000_000,
    )


async def _measure(call: Any, *, concurrency: int, rounds: int) -> list[float]:
    took: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        await call()
        took.append(time.perf_counter() - started)

    for _ in range(rounds):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    return took


async def run(applications: int, concurrency: int, rounds: int) -> dict[str, Any]:
    settings = _settings()
    pool = await create_pool(settings.database_url, max_size=10)
    await prepare_database(pool, component="workflow", package="onceonly.workflow")
    client = await connect(settings)
    activities = ApprovalActivities(
        producer=MemoryProducer(MemoryBroker()),
        topic_prefix=settings.topic_prefix,
        catalogue=default_catalogue(),
        calendar=default_calendar(),
        registry=InMemoryBaseRegistry.from_seed(load_seed(), hmac_key=settings.registry_hmac_key()),
        sealer=PiiSealer(settings.pii_keys.get_secret_value()),
        elicences=InMemoryELicenceStore(),
        elicence_keys=settings.elicence_keys(),
        task_list=PostgresTaskList(pool),
    )
    worker = build_worker(client, task_queue=settings.temporal_task_queue, activities=activities)
    region = random.randint(900000, 999999)
    codes = [f"{region}-20261204-{i:06d}B" for i in range(applications)]
    workflows = ApplicationWorkflows(client)
    app = create_app(settings, client=client)
    app.state.department.pool = pool  # what the lifespan would open
    token = settings.staff_tokens().issue(staff_id="bench", department_code=DEPARTMENT)
    headers = {"authorization": f"Bearer {token}"}
    missed = [0]  # applications left out of a "before" list by a failed query
    queue_filter = f"TaskQueue = '{settings.temporal_task_queue}'"
    try:
        async with worker:
            for code in codes:
                await client.start_workflow(
                    WORKFLOW_NAME,
                    ApplicationInput(
                        application_code=code,
                        matter_code="household-transfer",
                        integrator_id="bench",
                        applicant_kind="person",
                        materials=MATERIALS,
                        contact=ContactInput(mobile_sealed="k:x", mobile_masked="1381234****"),
                        submitted_at="2026-12-04T01:00:00+00:00",
                    ),
                    id=code,
                    task_queue=settings.temporal_task_queue,
                    result_type=ApplicationResult,
                )

            async def before() -> int:
                query = (
                    f"Departments = '{DEPARTMENT}' AND ExecutionStatus = 'Running'"
                    f" AND {queue_filter}"
                )
                found = [e.id async for e in client.list_workflows(query, limit=200)]
                snaps = await asyncio.gather(
                    *(workflows.snapshot(c) for c in found), return_exceptions=True
                )
                # As the list did: an application whose query failed (3 s timeout) is
                # left out of the answer; counted here as an incomplete list.
                shown = [snap for snap in snaps if not isinstance(snap, BaseException)]
                missed[0] += len(snaps) - len(shown)
                return sum(
                    1
                    for snap in shown
                    for task in snap.tasks
                    if task.department_code == DEPARTMENT and task.state == TaskState.OPEN
                )

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:

                async def after() -> int:
                    answer = await http.get("/v1/tasks", headers=headers)
                    answer.raise_for_status()
                    return sum(1 for task in answer.json() if task["application_code"] in codes)

                # Both ways see every application's open task before the clock starts.
                deadline = time.monotonic() + 60
                while (await before(), await after()) != (applications, applications):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the applications' tasks did not all show")
                    await asyncio.sleep(0.5)
                missed[0] = 0
                before_took = await _measure(before, concurrency=concurrency, rounds=rounds)
                before_missed = missed[0]
                after_took = await _measure(after, concurrency=concurrency, rounds=rounds)
    finally:
        for code in codes:  # leave nothing running on the shared server
            with contextlib.suppress(Exception):
                await client.get_workflow_handle(code).terminate("bench over")
        await pool.close()
    return {
        "benchmark": "department task list (/v1/tasks)",
        "applications": applications,
        "concurrency": concurrency,
        "rounds": rounds,
        "before_n_queries": summarize(before_took).as_dict(),
        "before_applications_left_out": before_missed,
        "after_task_list": summarize(after_took).as_dict(),
    }


@cli.command()
def main(applications: int = 50, concurrency: int = 20, rounds: int = 5) -> None:
    result = asyncio.run(run(applications, concurrency, rounds))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    cli()
