"""The Temporal client, with trace context carried into workflows and activities."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from onceonly.workflow.settings import WorkflowSettings


async def connect(settings: WorkflowSettings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        interceptors=[TracingInterceptor()],
    )
