"""Replay of recorded histories: a change to JointApproval that would break running
applications fails here. Histories are recorded by running the workflow tests with
ONCEONLY_RECORD_HISTORIES=1; record anew only for a deliberate, versioned change, and
keep the histories of the versions before it. Each history is named after the patch its
version ends with (`*.legal-limit-supervision.json` are the current version's, see
HISTORY_VERSION in conftest.py; `*.clocks-resumed-event.json`,
`*.batched-publish-stable-ids.json`,
`*.local-activities.json` and the unsuffixed ones are older); `dev-server-*` was taken
from the Temporal dev server of `make up` (`temporal workflow show -o json`, or a
client's `fetch_history()`), as the time-skipping server splits workflow tasks
differently)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from onceonly.workflow.worker import sandbox_runner
from onceonly.workflow.workflows import JointApproval

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
TEXTS = {path.stem: path.read_text(encoding="utf-8") for path in HISTORIES}


def test_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 32, "the recorded histories are missing"


@pytest.mark.parametrize("name", sorted(TEXTS))
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, TEXTS[name])
    replayer = Replayer(workflows=[JointApproval], workflow_runner=sandbox_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
