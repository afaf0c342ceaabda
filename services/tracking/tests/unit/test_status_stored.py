"""The status projection through its row in tracking.application_status: read back, it
folds on exactly as the projection kept in memory, and rows stored before the approval
library read back as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings

from onceonly.approval import ApplicationState, ApprovalStatus, TaskState, fold
from onceonly.approval.testing import streams
from onceonly.events.v1 import approval_pb2
from onceonly.tracking.status import (
    ApplicationStatus,
    apply_event,
    kept,
    status_json,
    stored_status,
)

CODE = "T-1"

# A row as tracking stored it before the approval library (its API showed the same).
LEGACY: dict[str, Any] = {
    "application_code": CODE,
    "matter_code": "business-startup",
    "status": "accepted",
    "tasks": {
        "tax": {
            "state": "started",
            "task_name": "发票",
            "started_at": "2025-03-03T09:00:00.000000+00:00",
            "paused": False,
            "committed_days": 10,
            "day_kind": "working",
            "due_at": "2025-03-17T01:00:00.000000+00:00",
            "assignee": "officer-7",
            "supervision_level": "yellow",
            "resumed_at": "2025-03-04T01:00:00.000000+00:00",
            "paused_intervals": [
                {
                    "from": "2025-03-03T21:00:00.000000+00:00",
                    "to": "2025-03-04T01:00:00.000000+00:00",
                    "reason": "supplement",
                }
            ],
            "paused_seconds": 14400,
            "escalation": 0,
            "seconds_left": 7200,
            "alert_raised_at": "2025-03-04T07:00:00.000000+00:00",
        },
        "fire": {
            "state": "started",
            "task_name": "消防",
            "started_at": "2025-03-03T13:00:00.000000+00:00",
            "paused": True,
            "committed_days": 10,
            "day_kind": "working",
            "due_at": "2025-03-17T01:00:00.000000+00:00",
            "special_procedure": "hearing",
            "special_since": "2025-03-04T05:00:00.000000+00:00",
        },
    },
    "last_event_at": "2025-03-04T13:00:00.000000+00:00",
    "supervision_level": "red",
    "paused": True,
    "due_at": "2025-03-08T01:00:00.000000+00:00",
    "supervision": {
        "level": "red",
        "escalation": 1,
        "seconds_left": -60,
        "alert_raised_at": "2025-03-04T08:00:00.000000+00:00",
        "due_at": "2025-03-08T01:00:00.000000+00:00",
    },
    "rating": None,
}


def stored(state: ApplicationStatus) -> ApplicationStatus:
    """`state` written to its row (JSON as jsonb keeps it) and read back."""
    row = json.loads(json.dumps(status_json(state)))
    return from_row(row)


def from_row(row: dict[str, Any]) -> ApplicationStatus:
    return stored_status(
        application_code=row["application_code"],
        matter_code=row["matter_code"],
        status=row["status"],
        tasks=row["tasks"],
        last_event_at=_instant(row["last_event_at"]),
        supervision=row["supervision"],
        due_at=_instant(row["due_at"]),
        rating=row["rating"],
    )


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@settings(max_examples=150, deadline=None)
@given(streams)
def test_a_row_read_back_folds_on_as_the_library_fold_in_memory(stream) -> None:
    in_memory = ApprovalStatus(application_code=CODE)
    through_rows = None
    for message, at in stream:
        in_memory = fold(in_memory, message, at=at)
        projected = apply_event(through_rows, application_code=CODE, message=message, time=at)
        through_rows = stored(projected)
        assert through_rows == projected  # what an append returns is what its row holds
    if through_rows is not None:
        assert status_json(through_rows) == status_json(in_memory)


@settings(max_examples=150, deadline=None)
@given(streams)
def test_what_an_event_leaves_alone_is_kept_as_it_was(stream) -> None:
    # apply_event keeps the tasks and alert the fold left alone as they are; through
    # their JSON and back, as kept() alone does, they must come out the same.
    status = None
    for message, at in stream:
        folded = fold(status or ApprovalStatus(application_code=CODE), message, at=at)
        status = apply_event(status, application_code=CODE, message=message, time=at)
        assert status == kept(folded)
        assert status == stored(status)


def test_a_row_stored_before_the_library_reads_back_as_it_was() -> None:
    state = from_row(LEGACY)
    assert status_json(state) == LEGACY
    assert state.state is ApplicationState.ACCEPTED
    assert state.tasks["fire"].special_procedure == "hearing"


def test_a_row_stored_before_the_library_folds_on() -> None:
    ended = approval_pb2.SpecialProcedureEnded(
        application_code=CODE, department_code="fire", kind="hearing"
    )
    decided = approval_pb2.TaskDecided(
        application_code=CODE, department_code="tax", outcome=approval_pb2.DECISION_OUTCOME_APPROVED
    )
    at = datetime(2025, 3, 5, 5, 0, tzinfo=UTC)
    state = apply_event(from_row(LEGACY), application_code=CODE, message=ended, time=at)
    state = apply_event(state, application_code=CODE, message=decided, time=at)
    fire, tax = status_json(state)["tasks"]["fire"], status_json(state)["tasks"]["tax"]
    assert "special_procedure" not in fire and fire["paused"] is False
    assert fire["paused_intervals"] == [
        {
            "from": "2025-03-04T05:00:00.000000+00:00",
            "to": "2025-03-05T05:00:00.000000+00:00",
            "reason": "special_procedure:hearing",
        }
    ]
    assert fire["paused_seconds"] == int(timedelta(days=1).total_seconds())
    assert state.tasks["tax"].state is TaskState.APPROVED
    assert tax["supervision_level"] == "none" and tax["alert_raised_at"]
    assert status_json(state)["supervision_level"] == "red"  # the application's own clock
