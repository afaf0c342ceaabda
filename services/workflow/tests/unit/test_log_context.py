"""Activity log lines carry the application code (the workflow id)."""

from __future__ import annotations

import dataclasses
from typing import Any

import structlog
from temporalio.testing import ActivityEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput

from onceonly.workflow.temporal import ActivityLogContext

CODE = "330100-20250303-0004276"


class _Recording(ActivityInboundInterceptor):
    """The next interceptor in the chain: records the log context it runs in."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self.seen = structlog.contextvars.get_contextvars()
        return "done"


async def test_activities_run_with_the_application_code_bound() -> None:
    recording = _Recording()
    inbound = ActivityLogContext().intercept_activity(recording)
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, workflow_id=CODE, activity_type="publish_event"
    )

    async def run() -> Any:
        return await inbound.execute_activity(None)  # type: ignore[arg-type]

    assert await environment.run(run) == "done"
    assert recording.seen["application_code"] == CODE
    assert recording.seen["activity"] == "publish_event"
    # Bound only for the activity's duration.
    assert "application_code" not in structlog.contextvars.get_contextvars()
