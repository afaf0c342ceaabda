"""A worker killed mid-application (kill -9) and restarted continues where it stopped,
with no duplicate events in effect: the real `onceonly-workflow worker` process against
the real Temporal dev server, Kafka and Postgres, on its own topics and task queue."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import asyncpg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from onceonly.events.v1 import application_pb2
from onceonly.platform.envelope import Envelope
from onceonly.platform.testing import (
    TopicReader,
    eventually,
    migrated_pool,
    test_database_url,
    test_kafka_bootstrap,
    unique_prefix,
)
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.bridge import application_input
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationResult,
    ApplicationSnapshot,
    DecisionInput,
    DecisionResult,
)
from onceonly.workflow.temporal import connect

pytestmark = pytest.mark.integration

MATTER = "business-startup"
DEPARTMENTS = ["market-regulation", "public-security", "tax", "human-resources"]
# Every material on paper: the shared-data checks fail (the identifier opens for
# nobody), so the paper is required, and it is all there → accepted.
MATERIALS = [
    "registration-form",
    "articles-of-association",
    "legal-rep-id",
    "premises-proof",
    "seal-specimen",
]
EXPECTED = {"ApplicationAccepted": 1, "TaskStarted": 4, "TaskDecided": 4, "ApplicationCompleted": 1}


def _worker_command() -> list[str]:
    # The script installed next to the interpreter running the tests (the workspace venv).
    script = Path(sys.executable).with_name("onceonly-workflow")
    found = str(script) if script.exists() else shutil.which("onceonly-workflow")
    assert found, "the onceonly-workflow script is not installed"
    return [found, "worker"]


class WorkerProcess:
    """One `onceonly-workflow worker` subprocess, its output in a log file."""

    def __init__(self, settings: WorkflowSettings, name: str) -> None:
        self._settings = settings
        self.name = name
        self.process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix=f"onceonly-{name}-", suffix=".log", delete=False
        )

    async def start(self) -> None:
        env = {
            **os.environ,
            "ONCEONLY_ENVIRONMENT": "development",
            "ONCEONLY_TOPIC_PREFIX": self._settings.topic_prefix,
            "ONCEONLY_TEMPORAL_TASK_QUEUE": self._settings.temporal_task_queue,
            "ONCEONLY_DATABASE_URL": self._settings.database_url,
            "ONCEONLY_KAFKA_BOOTSTRAP": self._settings.kafka_bootstrap,
            "ONCEONLY_HEARTBEAT_SECONDS": "0.5",
        }
        self.process = await asyncio.create_subprocess_exec(
            *_worker_command(),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    def output(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")[-4000:]

    async def wait_for_heartbeat(self, pool: asyncpg.Pool, *, within: float = 60.0) -> None:
        """Until the worker beats with its own pid (the component name is shared by every
        worker on this database, so the pid tells ours from the others)."""

        async def beating() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
                )
            pid = await pool.fetchval(
                "SELECT pid FROM platform.instance_heartbeats WHERE component = 'workflow-worker'"
                " ORDER BY beat_at DESC LIMIT 1"
            )
            return pid == self.process.pid

        await eventually(beating, within=within, what=f"a heartbeat of {self.name}")

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


def _submission(code: str) -> application_pb2.ApplicationSubmitted:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return application_pb2.ApplicationSubmitted(
        application_code=code,
        matter_code=MATTER,
        integrator_id="portal",
        # No sealed identifier: it opens for nobody, so every shared-data check fails.
        applicant=application_pb2.Applicant(kind=application_pb2.APPLICANT_KIND_ORGANISATION),
        contact=application_pb2.Contact(
            mobile=application_pb2.SealedText(sealed="k:x", masked="1381234****"),
            channels=["sms"],
        ),
        materials=[application_pb2.Material(code=m, reference=f"doc://{m}") for m in MATERIALS],
        submitted_at=stamp,
    )


def _decision(department: str) -> DecisionInput:
    return DecisionInput(
        department_code=department,
        outcome="approved",
        staff_id=f"{department}-reviewer",
        staff_department=department,
    )


async def _decide(handle: WorkflowHandle, department: str) -> DecisionResult:
    return await handle.execute_update("decide", _decision(department), result_type=DecisionResult)


@contextlib.asynccontextmanager
async def _workers() -> AsyncIterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            await worker.stop()


async def test_killed_worker_restarts_where_it_stopped_without_duplicate_events() -> None:
    began = time.monotonic()
    settings = WorkflowSettings(
        environment="development",
        database_url=test_database_url(),
        kafka_bootstrap=test_kafka_bootstrap(),
        topic_prefix=unique_prefix(),
        temporal_task_queue=unique_prefix("test-queue"),
    )
    code = f"330100-20261123-{uuid.uuid4().int % 10**6:06d}R"
    client = await connect(settings)
    handle: WorkflowHandle | None = None
    async with (
        migrated_pool(
            settings.database_url, component="workflow", package="onceonly.workflow", max_size=2
        ) as pool,
        _workers() as workers,
    ):
        try:
            first = WorkerProcess(settings, "worker-1")
            workers.append(first)
            await first.start()
            await first.wait_for_heartbeat(pool)
            handle = await client.start_workflow(
                WORKFLOW_NAME,
                application_input(_submission(code)),
                id=code,
                task_queue=settings.temporal_task_queue,
                result_type=ApplicationResult,
            )

            async def tasks_visible() -> ApplicationSnapshot:
                assert handle is not None
                return await handle.query("snapshot", result_type=ApplicationSnapshot)

            snapshot = await eventually(
                tasks_visible, lambda s: len(s.tasks) == 4, within=60, what="the 4 open tasks"
            )
            assert snapshot.state == "in_approval", snapshot
            assert sorted(t.department_code for t in snapshot.tasks) == sorted(DEPARTMENTS)

            for department in DEPARTMENTS[:2]:
                decided = await _decide(handle, department)
                assert decided.task_state == "approved"
            assert first.process is not None
            os.kill(first.process.pid, signal.SIGKILL)
            assert await first.process.wait() == -signal.SIGKILL
            killed_at = time.monotonic()

            # The remaining decisions wait for a worker; the restarted one serves them.
            decisions = [
                asyncio.create_task(_decide(handle, department)) for department in DEPARTMENTS[2:]
            ]
            second = WorkerProcess(settings, "worker-2")
            workers.append(second)
            await second.start()
            await second.wait_for_heartbeat(pool)
            restarted_in = time.monotonic() - killed_at
            for decided in await asyncio.wait_for(asyncio.gather(*decisions), timeout=90):
                assert decided.task_state == "approved"
            result = await asyncio.wait_for(handle.result(), timeout=90)
            assert result.state == "completed", result
            assert result.elicence_number

            topic = topic_name(settings.topic_prefix, Stream.APPROVAL_EVENTS)
            async with TopicReader(settings.kafka_bootstrap, topic) as reader:
                # One partition per application (key = code): once the completion is
                # read, everything published before it has been read too.
                records = await reader.until(
                    lambda rs: any(
                        Envelope.from_kafka(r.headers, r.value).type.endswith(
                            ".ApplicationCompleted"
                        )
                        for r in rs
                    ),
                    within=30,
                    what="the ApplicationCompleted event",
                )
            envelopes = [Envelope.from_kafka(r.headers, r.value) for r in records]
            envelopes = [e for e in envelopes if e.subject == code]

            by_id: dict[str, list[Envelope]] = defaultdict(list)
            for envelope in envelopes:
                by_id[envelope.id].append(envelope)
            # At-least-once: a re-published event is the same event (same id, same body).
            for copies in by_id.values():
                assert len({(c.type, c.data) for c in copies}) == 1, copies
            distinct = [copies[0] for copies in by_id.values()]
            kinds = Counter(e.type.rsplit(".", 1)[-1] for e in distinct)
            assert dict(kinds) == EXPECTED, kinds
            for kind in ("TaskStarted", "TaskDecided"):
                departments = sorted(
                    e.message().department_code  # type: ignore[attr-defined]
                    for e in distinct
                    if e.type.endswith("." + kind)
                )
                assert departments == sorted(DEPARTMENTS), (kind, departments)
            duplicates = len(envelopes) - len(distinct)
            print(
                f"\nworker restart: {len(envelopes)} events read, {len(distinct)} distinct, "
                f"{duplicates} raw duplicate(s); worker back {restarted_in:.1f}s after the "
                f"kill; test took {time.monotonic() - began:.1f}s"
            )
        except BaseException:
            for worker in workers:
                print(f"--- {worker.name} output ---\n{worker.output()}")
            raise
        finally:
            if handle is not None:
                with contextlib.suppress(Exception):
                    description = await handle.describe()
                    if description.status == WorkflowExecutionStatus.RUNNING:
                        await handle.terminate("test over")
