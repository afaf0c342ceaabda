"""The department API's Temporal client: an application whose snapshot cannot be decoded
(another payload codec) is a 503 problem, which the task list skips, not a 500."""

from __future__ import annotations

from typing import Any

import pytest

from onceonly.platform.http import Problem
from onceonly.workflow.api.workflow_client import ApplicationWorkflows


class _Handle:
    async def query(self, *_: Any, **__: Any) -> Any:
        raise KeyError("Unknown payload encoding binary/encrypted")


class _Client:
    def get_workflow_handle(self, code: str) -> _Handle:
        return _Handle()


async def test_an_undecodable_snapshot_is_unavailable() -> None:
    workflows = ApplicationWorkflows(_Client())  # type: ignore[arg-type]
    with pytest.raises(Problem) as raised:
        await workflows.snapshot("330100-20250303-0004276")
    assert raised.value.status == 503
