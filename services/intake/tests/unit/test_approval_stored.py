"""Intake's approval status through its row in intake.approval_status: what intake shows
folds on from the row as from the status in memory, and rows stored before the approval
library read back as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings

from onceonly.approval import ApplicationState, ApprovalStatus, TaskState, fold
from onceonly.approval.testing import streams
from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import approval_pb2
from onceonly.intake.approval_status import (
    NOT_EXAMINED,
    clock_json,
    steps_json,
    stored_status,
    tasks_json,
)
from onceonly.intake.schemas import ApplicationView
from onceonly.intake.store import ApplicationRecord

CLOCK = {
    "committed_days": 10,
    "day_kind": "working",
    "started_at": "2025-03-03T01:00:00Z",
    "due_at": "2025-03-17T01:00:00Z",
    "paused": True,
    "provisional": False,
}
# Columns of a row as intake stored them before the approval library.
LEGACY: dict[str, Any] = {
    "status": "accepted_with_deficiency",
    "reason": "",
    "missing_materials": ("seal",),
    "missing_since": datetime(2025, 3, 3, 1, 0, tzinfo=UTC),
    "clock": {
        "committed_days": 3,
        "day_kind": "working",
        "started_at": "2025-03-03T01:00:00Z",
        "due_at": "2025-03-08T01:00:00Z",
        "paused": False,
        "provisional": False,
    },
    "tasks": {
        "tax": {
            "state": "supplement_requested",
            "task_name": "发票",
            "reason": "缺照片",
            "decided_at": "2025-03-03T13:00:00Z",
            "clock": CLOCK,
        },
        "fire": {
            "state": "started",
            "task_name": "消防",
            "reason": "",
            "decided_at": None,
            "clock": CLOCK,
            "special_procedure": "hearing",
        },
    },
    "elicence_number": "",
    "last_event_at": datetime(2025, 3, 3, 17, 0, tzinfo=UTC),
}


def columns(state: ApprovalStatus) -> dict[str, Any]:
    """The row's columns as the store writes them (JSON as jsonb keeps it)."""
    return {
        "status": state.state.value,
        "reason": state.reason,
        "missing_materials": state.missing_materials,
        "missing_since": state.missing_since,
        "clock": json.loads(json.dumps(clock_json(state.clock))),
        "tasks": json.loads(json.dumps(tasks_json(state))),
        "elicence_number": state.elicence_number,
        "last_event_at": state.last_event_at,
    }


@settings(max_examples=150, deadline=None)
@given(streams)
def test_a_row_read_back_folds_on_as_the_status_in_memory(stream) -> None:
    in_memory = through_rows = NOT_EXAMINED
    for message, at in stream:
        in_memory = fold(in_memory, message, at=at)
        through_rows = stored_status(**columns(fold(through_rows, message, at=at)))
    assert columns(through_rows) == columns(in_memory)


def test_a_row_stored_before_the_library_reads_back_as_it_was() -> None:
    state = stored_status(**LEGACY)
    assert columns(state) == {
        **LEGACY,
        # Written now whether or not a special procedure ever ran (read with a default).
        "tasks": {**LEGACY["tasks"], "tax": {**LEGACY["tasks"]["tax"], "special_procedure": None}},
    }
    view = ApplicationView.of(
        record(), state, outstanding=("seal",), catalogue=default_catalogue(), self_link="/x"
    )
    shown = view.model_dump(mode="json")
    assert shown["status"] == "accepted_with_deficiency"
    assert shown["clock"]["due_at"] == "2025-03-08T01:00:00Z"
    fire, tax = shown["departments"]
    assert (fire["state"], fire["special_procedure"]) == ("started", "hearing")
    assert fire["reason"] is None
    assert (tax["state"], tax["reason"], tax["decided_at"]) == (
        "supplement_requested",
        "缺照片",
        "2025-03-03T13:00:00Z",
    )


def test_a_row_stored_before_the_library_folds_on() -> None:
    at = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
    ended = approval_pb2.SpecialProcedureEnded(
        application_code="T-1", department_code="fire", kind="hearing"
    )
    resumed = approval_pb2.TaskStarted(
        application_code="T-1", department_code="tax", task_name="发票"
    )
    state = fold(fold(stored_status(**LEGACY), ended, at=at), resumed, at=at)
    assert state.state is ApplicationState.ACCEPTED_WITH_DEFICIENCY
    assert state.tasks["fire"].special_procedure is None
    tax = state.tasks["tax"]
    assert (tax.state, tax.reason, tax.decided_at) == (TaskState.STARTED, "", None)


def record() -> ApplicationRecord:
    return ApplicationRecord(
        application_code="330100-20250303-0004276",
        integrator_id="portal",
        matter_code="business-startup",
        applicant_kind="organisation",
        name_sealed="",
        name_masked="杭州示例科技有限公司",
        identifier_sealed="",
        identifier_masked="9133**************",
        mobile_sealed="",
        mobile_masked="1391234****",
        channels=("sms",),
        language="zh",
        materials=[],
        form={},
        status="accepted_with_deficiency",
        submitted_at=datetime(2025, 3, 3, 0, 30, tzinfo=UTC),
        event_id="",
    )


@settings(max_examples=150, deadline=None)
@given(streams)
def test_steps_and_supplement_deadlines_read_back_as_folded(stream) -> None:
    in_memory = through_rows = NOT_EXAMINED

    def stored(state: ApprovalStatus) -> ApprovalStatus:
        return stored_status(
            **columns(state),
            supplement_due_at=state.supplement_due_at,
            steps=json.loads(json.dumps(steps_json(state))),
        )

    for message, at in stream:
        in_memory = fold(in_memory, message, at=at)
        through_rows = stored(fold(through_rows, message, at=at))
    assert through_rows.steps == in_memory.steps
    assert through_rows.supplement_due_at == in_memory.supplement_due_at
    for department, task in in_memory.tasks.items():
        again = through_rows.tasks[department]
        assert (again.supplement_materials, again.supplement_due_at) == (
            task.supplement_materials,
            task.supplement_due_at,
        )
