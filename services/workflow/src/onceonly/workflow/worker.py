"""The Temporal worker process: JointApproval, HotlineWorkOrder, Rectification and
SupervisionCase workflows and their activities."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from onceonly.catalogue import Catalogue, default_catalogue
from onceonly.catalogue.calendar import WorkingCalendar, default_calendar
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.heartbeat import run_heartbeat
from onceonly.platform.kafka import build_producer, ensure_topics, wait_for_kafka
from onceonly.platform.kafka_ports import Producer
from onceonly.platform.metrics import serve_metrics
from onceonly.platform.pii import PiiSealer
from onceonly.platform.topics import all_topics
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.case_activities import CaseActivities
from onceonly.workflow.case_list import PostgresCaseList
from onceonly.workflow.elicences import PostgresELicenceStore
from onceonly.workflow.rectification_workflow import Rectification
from onceonly.workflow.registry import PostgresBaseRegistry
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.supervision_case_workflow import SupervisionCase
from onceonly.workflow.task_list import PostgresTaskList
from onceonly.workflow.temporal import ActivityLogContext, connect
from onceonly.workflow.work_order_activities import WorkOrderActivities
from onceonly.workflow.work_order_list import PostgresWorkOrderList
from onceonly.workflow.work_order_workflow import HotlineWorkOrder
from onceonly.workflow.workflows import JointApproval

log = structlog.get_logger(__name__)


def sandbox_runner() -> SandboxedWorkflowRunner:
    # Our pure modules and protobuf are deterministic; passing them through saves
    # re-importing them for every workflow task.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "onceonly", "google.protobuf"
        )
    )


def temporal_runtime(settings: WorkflowSettings) -> Runtime | None:
    """The SDK's core runtime exporting its metrics (workflow and activity task latencies,
    slots, sticky cache, requests) in Prometheus format on worker_temporal_metrics_port;
    None (the SDK's default runtime) when that port is 0.

    Named as Prometheus names them: counters end in _total, durations are histograms in
    seconds (e.g. temporal_workflow_task_schedule_to_start_latency_seconds)."""
    if settings.worker_temporal_metrics_port <= 0:
        return None
    address = f"{settings.workflow_api_host}:{settings.worker_temporal_metrics_port}"
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=address,
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            )
        )
    )
    log.info("temporal sdk metrics served", url=f"http://{address}/metrics")
    return runtime


def build_worker(
    client: Client,
    *,
    task_queue: str,
    activities: ApprovalActivities,
    settings: WorkflowSettings | None = None,
    work_orders: WorkOrderActivities | None = None,
    cases: CaseActivities | None = None,
) -> Worker:
    """The worker, tuned by `settings` (polls, workflow cache, sandbox); without them
    (the tests), the fields' defaults, which are the SDK's own, and always the sandbox:
    the tests are what catches a non-deterministic workflow (decisions/0007)."""
    tuning = settings if settings is not None else WorkflowSettings.model_construct()
    sandboxed = tuning.worker_sandbox if settings is not None else True
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[JointApproval, HotlineWorkOrder, Rectification, SupervisionCase],
        activities=[
            activities.resolve_matter,
            activities.compute_deadlines,
            activities.extend_deadline,
            activities.add_days,
            activities.recompute_deadline,
            activities.run_shared_data_checks,
            activities.issue_elicence,
            activities.publish_event,
            activities.publish_events,
            *(
                [work_orders.work_order_clocks, work_orders.publish_work_order_event]
                if work_orders is not None
                else []
            ),
            *(
                [cases.rectification_clock, cases.case_response_due, cases.publish_case_event]
                if cases is not None
                else []
            ),
        ],
        workflow_runner=sandbox_runner() if sandboxed else UnsandboxedWorkflowRunner(),
        interceptors=[ActivityLogContext()],
        max_concurrent_workflow_task_polls=tuning.worker_workflow_task_polls,
        max_concurrent_activity_task_polls=tuning.worker_activity_task_polls,
        max_cached_workflows=tuning.worker_max_cached_workflows,
    )


def production_worker(
    client: Client,
    settings: WorkflowSettings,
    *,
    pool: asyncpg.Pool,
    producer: Producer,
    catalogue: Catalogue | None = None,
    calendar: WorkingCalendar | None = None,
) -> Worker:
    """The worker `run_worker` runs: every workflow, with the activities over Postgres
    and Kafka (also what bench/worker_cpu.py measures)."""
    calendar = calendar or default_calendar(
        Path(settings.calendar_dir) if settings.calendar_dir else None
    )
    activities = ApprovalActivities(
        producer=producer,
        topic_prefix=settings.topic_prefix,
        catalogue=catalogue or default_catalogue(),
        calendar=calendar,
        registry=PostgresBaseRegistry(pool, hmac_key=settings.registry_hmac_key()),
        sealer=PiiSealer(settings.pii_keys.get_secret_value()),
        elicences=PostgresELicenceStore(pool),
        elicence_keys=settings.elicence_keys(),
        task_list=PostgresTaskList(pool),
    )
    return build_worker(
        client,
        task_queue=settings.temporal_task_queue,
        activities=activities,
        settings=settings,
        work_orders=WorkOrderActivities(
            producer=producer,
            topic_prefix=settings.topic_prefix,
            calendar=calendar,
            limits=settings.work_order_limit_overrides(),
            work_orders=PostgresWorkOrderList(pool),
        ),
        cases=CaseActivities(
            producer=producer,
            topic_prefix=settings.topic_prefix,
            calendar=calendar,
            rectification=settings.rectification_limit(),
            cases=PostgresCaseList(pool),
        ),
    )


async def run_worker(
    settings: WorkflowSettings,
    *,
    catalogue: Catalogue | None = None,
    calendar: WorkingCalendar | None = None,
) -> None:
    serve_metrics(
        settings.worker_metrics_port, host=settings.workflow_api_host, process="workflow-worker"
    )
    # The activities leave no session state on a connection (no LISTEN, SET, cursor or
    # session lock; the migrations' lock is released where taken): no reset query, a
    # round trip, per checkout.
    pool = await create_pool(settings.database_url, max_size=4, reset_sessions=False)
    await prepare_database(pool, component="workflow", package="onceonly.workflow")
    await wait_for_kafka(settings.kafka_bootstrap)
    await ensure_topics(settings.kafka_bootstrap, all_topics(settings.topic_prefix))
    producer = build_producer(settings.kafka_bootstrap, client_id="onceonly-workflow-worker")
    await producer.start()
    client = await connect(settings, runtime=temporal_runtime(settings))
    worker = production_worker(
        client, settings, pool=pool, producer=producer, catalogue=catalogue, calendar=calendar
    )
    beat = asyncio.create_task(
        run_heartbeat(pool, "workflow-worker", every=settings.heartbeat_seconds)
    )
    log.info("worker started", task_queue=settings.temporal_task_queue)
    try:
        await worker.run()
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await producer.stop()
        await pool.close()
