"""Settings of the workflow worker, bridge and department API."""

from __future__ import annotations

from onceonly.platform.settings import PlatformSettings


class WorkflowSettings(PlatformSettings):
    workflow_api_host: str = "127.0.0.1"
    workflow_api_port: int = 8001
    # Temporal visibility is eventually consistent; the task list reads at most this many.
    task_list_limit: int = 200
