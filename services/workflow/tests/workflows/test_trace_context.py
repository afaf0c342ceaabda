"""Every event an application's workflow publishes is in the application's trace: the
acceptance, a timer's alert weeks later, a department's decision (an Update that comes
with a trace of its own, to which the handler links), the completion. Also after the
workflow left the worker's cache and was replayed, as on another worker.

The trace context is the one the workflow was started in (the bridge starts it while it
handles the submission, in the application's trace); temporalio's tracing interceptor
keeps it in the workflow's start header.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest_asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.testing import eventually
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationInput,
    ApplicationResult,
    ApplicationSnapshot,
    ContactInput,
    DecisionInput,
    DecisionResult,
)
from onceonly.workflow.temporal import application_trace
from onceonly.workflow.worker import build_worker

HOUSEHOLD = ["transfer-application", "resident-id", "housing-proof", "household-register"]


@dataclass
class Traced:
    client: Client
    task_queue: str
    tracer: trace.Tracer
    exported: InMemorySpanExporter


@pytest_asyncio.fixture
async def traced(time_skipping_env, harness, make_activities):
    """A worker whose client traces as the services' does (`temporal.connect`), into an
    in-memory exporter; without a workflow cache, so that every workflow task replays the
    history first, as a workflow evicted or moved to another worker does."""
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("onceonly-tests")
    config = time_skipping_env.client.config()
    client = Client(**{**config, "interceptors": [TracingInterceptor(tracer)]})
    task_queue = f"trace-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        client,
        task_queue=task_queue,
        activities=make_activities(harness.producer, default_calendar()),
        settings=WorkflowSettings.model_construct(worker_max_cached_workflows=0),
    )
    async with worker:
        yield Traced(client, task_queue, tracer, exported)


def _trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1] if traceparent else ""


async def test_alerts_and_decisions_are_published_in_the_application_trace(
    traced, harness, application_code, time_skipping_env
):
    app = ApplicationInput(
        application_code=application_code,
        matter_code="household-transfer",
        integrator_id="portal",
        applicant_kind="person",
        materials=HOUSEHOLD,
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at="2026-11-23T01:00:00+00:00",
    )
    # Stands for the bridge's span of the submission, in the application's trace.
    with traced.tracer.start_as_current_span("workflow-bridge process") as submission:
        handle = await traced.client.start_workflow(
            WORKFLOW_NAME,
            app,
            id=application_code,
            task_queue=traced.task_queue,
            result_type=ApplicationResult,
        )
    application = format(submission.get_span_context().trace_id, "032x")
    await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snapshot: snapshot.tasks,
        what="its tasks",
    )

    # Nine days later the yellow warning's timer fires (10 natural days' limit).
    await time_skipping_env.sleep(timedelta(days=9))
    await eventually(
        lambda: _published(harness, application_code),
        lambda types: "SupervisionAlert" in types,
        within=10.0,
        what="the yellow alert",
    )

    # A department decides, over a request of its own (the department API's).
    with traced.tracer.start_as_current_span("POST decision") as request:
        await handle.execute_update(
            "decide",
            DecisionInput(
                department_code="public-security",
                outcome="approved",
                staff_id="reviewer",
                staff_department="public-security",
                reason="",
            ),
            result_type=DecisionResult,
        )
    assert (await handle.result()).state == "completed"

    published = [
        envelope for _, envelope in harness.producer.sent if envelope.subject == application_code
    ]
    types = {envelope.type.rsplit(".", 1)[-1] for envelope in published}
    assert types >= {
        "ApplicationAccepted",
        "SupervisionAlert",
        "TaskDecided",
        "ApplicationCompleted",
    }
    assert {_trace_id(envelope.traceparent) for envelope in published} == {application}

    # The decision's handler is in the application's trace and links to the request.
    [handler] = [s for s in traced.exported.get_finished_spans() if s.name == "HandleUpdate:decide"]
    assert format(handler.context.trace_id, "032x") == application
    assert [link.context.trace_id for link in handler.links] == [
        request.get_span_context().trace_id
    ]

    # What the bridge reads to link an applicant update's own trace to the application's.
    found = await application_trace(traced.client, application_code)
    assert found is not None and format(found.trace_id, "032x") == application


async def _published(harness, code: str) -> list[str]:
    return [
        envelope.type.rsplit(".", 1)[-1]
        for _, envelope in harness.producer.sent
        if envelope.subject == code
    ]
