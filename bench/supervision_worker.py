"""A JointApproval worker for the supervision benchmark, on its own task queue and topic
prefix: the real workflow and activities, except that deadlines come from a plan file
(seconds away instead of days), so that red alerts fall due during the run.

    python -m bench.supervision_worker TASK_QUEUE TOPIC_PREFIX PLAN_FILE

The plan file holds {"t0": epoch seconds, "spread": seconds, "n": tasks, "due": tasks
that fall due}: the task clock of workflow RUN-sup-i (i mod n below `due`) is due at
t0 + (i mod n) / due * spread, its yellow warning one spread earlier; the others, and
the application's own clock, are due a day later (they stay open, never alerting).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.db import create_pool
from onceonly.platform.kafka import build_producer
from onceonly.platform.pii import PiiSealer
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.elicences import PostgresELicenceStore
from onceonly.workflow.registry import PostgresBaseRegistry
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import DeadlineRequest, DeadlineResult
from onceonly.workflow.temporal import connect
from onceonly.workflow.worker import build_worker


class PlannedDeadlines(ApprovalActivities):
    def __init__(self, plan_file: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._plan_file = plan_file
        self._slots = itertools.count()

    @activity.defn(name="compute_deadlines")
    async def compute_deadlines(self, request: DeadlineRequest) -> DeadlineResult:
        plan = json.loads(self._plan_file.read_text())
        t0 = datetime.fromtimestamp(plan["t0"], UTC)
        spread = timedelta(seconds=plan["spread"])
        far = datetime.now(UTC) + timedelta(days=1)
        due_at, yellow_at = [far.isoformat()], [(far - spread).isoformat()]
        falling = plan.get("due", plan["n"])
        for _ in request.limits[1:]:
            slot = self._slot(plan["n"])
            due = t0 + spread * (slot / falling) if slot < falling else far
            due_at.append(due.isoformat())
            yellow_at.append((due - spread).isoformat())
        return DeadlineResult(due_at=due_at, provisional=[False] * len(due_at), yellow_at=yellow_at)

    def _slot(self, n: int) -> int:
        """The task's slot from its workflow id (`RUN-sup-000209`: 209), so that a retried
        activity gets the same deadline: counting calls, a retry under load took a second
        slot, and a run of 1,000 due tasks had 998 (the run then waited out its settle
        time for two red alerts that could not come). Other ids: in call order."""
        number = activity.info().workflow_id.rsplit("-", 1)[-1]
        return int(number) % n if number.isdigit() else next(self._slots) % n


async def main(task_queue: str, prefix: str, plan_file: Path) -> None:
    settings = WorkflowSettings(topic_prefix=prefix)
    pool = await create_pool(settings.database_url, max_size=4)
    producer = build_producer(settings.kafka_bootstrap, client_id=f"{prefix}-worker")
    await producer.start()
    client = await connect(settings)
    activities = PlannedDeadlines(
        plan_file,
        producer=producer,
        topic_prefix=prefix,
        catalogue=default_catalogue(),
        calendar=default_calendar(),
        registry=PostgresBaseRegistry(pool, hmac_key=settings.registry_hmac_key()),
        sealer=PiiSealer(settings.pii_keys.get_secret_value()),
        elicences=PostgresELicenceStore(pool),
    )
    worker = build_worker(
        client,
        task_queue=task_queue,
        activities=activities,
        settings=settings,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with worker:
            print("ready", flush=True)
            await stop.wait()
    finally:
        await producer.stop()
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
