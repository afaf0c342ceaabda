"""The Temporal client, with its payloads encrypted (payload_codec.py), trace context
carried into workflows and activities, and the application code on every log line an
activity writes.

The workflow of an application is started in the application's trace (the bridge
starts it while it handles the submission), and temporalio's tracing interceptor keeps
that context in the workflow's start header: every workflow task, timer, signal and
update handler schedules its activities from it, whenever and on whichever worker it
runs. `application_trace` reads it back for the steps that run outside the workflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from opentelemetry import propagate, trace
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from onceonly.workflow.payload_codec import EncryptionCodec, data_converter
from onceonly.workflow.settings import WorkflowSettings

# The workflow header in which the tracing interceptor carries the trace context.
TRACE_HEADER = TracingInterceptor().header_key


async def connect(settings: WorkflowSettings, *, runtime: Runtime | None = None) -> Client:
    """The client; `runtime` (the SDK's core runtime) e.g. to export its metrics. Every
    process of the service connects here, so nothing reaches Temporal unencrypted (a
    worker encodes with its client's converter)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(payload_codec(settings)),
        interceptors=[TracingInterceptor()],
        runtime=runtime,
        tls=tls_config(settings),
    )


def tls_config(settings: WorkflowSettings) -> TLSConfig | bool:
    """TLS to the frontend as the settings say (False: plaintext, the dev server)."""
    if not settings.temporal_tls:
        return False

    def read(path: str) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca_file),
        client_cert=read(settings.temporal_tls_cert_file),
        client_private_key=read(settings.temporal_tls_key_file),
        domain=settings.temporal_tls_server_name or None,
    )


def payload_codec(settings: WorkflowSettings) -> EncryptionCodec:
    """The codec of Temporal's payloads, under the PII keys of `settings`."""
    return EncryptionCodec.from_pii_keys(settings.pii_keys.get_secret_value())


async def application_trace(client: Client, application_code: str) -> trace.SpanContext | None:
    """The span context the application's workflow was started in (a span of the
    application's trace), from the header of its first history event; None if the
    workflow has no trace header. Raises RPCError (e.g. NOT_FOUND: no workflow yet)."""
    handle = client.get_workflow_handle(application_code)
    async for event in handle.fetch_history_events(page_size=1):
        header = event.workflow_execution_started_event_attributes.header.fields
        payload = header.get(TRACE_HEADER)
        if payload is None:
            return None
        [carrier] = client.data_converter.payload_converter.from_payloads([payload])
        if not isinstance(carrier, dict):
            return None
        found = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        return found if found.is_valid else None
    return None


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
