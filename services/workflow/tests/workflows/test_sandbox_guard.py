"""The worker runs workflows outside Temporal's sandbox by default; the tests' workers
and the replay of recorded histories keep it, so that a non-deterministic call in
workflow code still fails here (docs/decisions/0007-unsandboxed-worker.md)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DefaultFailureConverter
from temporalio.worker import (
    Replayer,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from onceonly.catalogue.calendar import default_calendar
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.worker import build_worker, sandbox_runner


@workflow.defn(name="ReadsTheWallClock")
class ReadsTheWallClock:
    """Non-deterministic on purpose: a replay would read another time."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


def runner_of(worker: Worker) -> WorkflowRunner:
    return worker.config()["workflow_runner"]  # type: ignore[typeddict-item]


async def test_the_tests_workers_keep_the_sandbox(harness) -> None:
    # Every workflow test runs on a worker built without settings, as this one is.
    assert isinstance(runner_of(harness.worker), SandboxedWorkflowRunner)


async def test_the_service_runs_unsandboxed_unless_told(harness, make_activities) -> None:
    activities = make_activities(harness.producer, default_calendar())

    def built(settings: WorkflowSettings) -> Worker:
        return build_worker(
            harness.client,
            task_queue=f"sandbox-guard-{uuid.uuid4().hex[:8]}",
            activities=activities,
            settings=settings,
        )

    unsandboxed = built(WorkflowSettings.model_construct())
    sandboxed = built(WorkflowSettings.model_construct(worker_sandbox=True))
    assert isinstance(runner_of(unsandboxed), UnsandboxedWorkflowRunner)
    assert isinstance(runner_of(sandboxed), SandboxedWorkflowRunner)


async def wall_clock_history(client: Client) -> WorkflowHistory:
    """A run of ReadsTheWallClock, completed outside the sandbox (nothing stops it)."""
    task_queue = f"sandbox-guard-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ReadsTheWallClock],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            ReadsTheWallClock.run, id=task_queue, task_queue=task_queue
        )
        assert isinstance(await handle.result(), str)  # unseen without the sandbox
    return await handle.fetch_history()


async def test_the_tests_sandbox_refuses_a_non_deterministic_call(harness) -> None:
    # Replayed as test_replay.py replays recorded histories, in the tests' runner.
    history = await wall_clock_history(harness.client)

    async def replayed(runner: WorkflowRunner) -> Exception | None:
        replayer = Replayer(
            workflows=[ReadsTheWallClock],
            workflow_runner=runner,
            # Failure messages in the clear, to read what the sandbox refused.
            data_converter=dataclasses.replace(
                harness.client.data_converter, failure_converter_class=DefaultFailureConverter
            ),
        )
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        return result.replay_failure

    failure = await replayed(runner_of(harness.worker))
    assert failure is not None and "Cannot access datetime.datetime.now" in str(failure)
    assert await replayed(sandbox_runner()) is not None  # test_replay.py's runner
    assert await replayed(UnsandboxedWorkflowRunner()) is None  # why the guard matters
