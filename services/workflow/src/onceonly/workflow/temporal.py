"""The Temporal client, with trace context carried into workflows and activities, and
the application code on every log line an activity writes."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import Runtime
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from onceonly.workflow.settings import WorkflowSettings


async def connect(settings: WorkflowSettings, *, runtime: Runtime | None = None) -> Client:
    """The client; `runtime` (the SDK's core runtime) e.g. to export its metrics."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )


class ActivityLogContext(Interceptor):
    """Binds the application code (the workflow id) and the activity's name to the log
    context while an activity runs."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindLogContext(next)


class _BindLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            application_code=info.workflow_id, activity=info.activity_type
        ):
            return await super().execute_activity(input)
