"""The approval's names: protobuf outcomes, ranks, and the workflow's wire names."""

from __future__ import annotations

import pytest

from onceonly.approval import (
    FINISHED,
    TASK_FINISHED,
    AcceptanceOutcome,
    ApplicationState,
    Decision,
    SupervisionLevel,
    TaskState,
)
from onceonly.events.v1 import approval_pb2, supervision_pb2

# What the workflow has always put on its wire (shared.py's TaskState and
# ApplicationState values before this library): kept as they are.
WORKFLOW_TASK_VALUES = {"open", "approved", "rejected", "supplement_requested", "cancelled"}
WORKFLOW_APPLICATION_VALUES = {
    "acceptance",
    "awaiting_supplement",
    "in_approval",
    "completed",
    "rejected",
    "refused",
    "withdrawn",
}


@pytest.mark.parametrize(
    ("enum", "names", "prefix"),
    [
        (AcceptanceOutcome, approval_pb2.AcceptanceOutcome, "ACCEPTANCE_OUTCOME_"),
        (Decision, approval_pb2.DecisionOutcome, "DECISION_OUTCOME_"),
        (SupervisionLevel, supervision_pb2.SupervisionLevel, "SUPERVISION_LEVEL_"),
    ],
)
def test_every_protobuf_outcome_has_the_member_of_its_name(enum, names, prefix) -> None:
    for name, number in names.items():
        member = enum.of_protobuf(number)
        if name.endswith("_UNSPECIFIED"):
            assert member is None
        else:
            # The workflow maps a member to its protobuf number by this name.
            assert member is not None and prefix + member.name == name
    assert enum.of_protobuf(99) is None


def test_outcomes_name_the_states_they_lead_to() -> None:
    assert {o.application_state for o in AcceptanceOutcome} == {
        ApplicationState.ACCEPTED,
        ApplicationState.ACCEPTED_WITH_DEFICIENCY,
        ApplicationState.SUPPLEMENT_REQUESTED,
        ApplicationState.REFUSED,
    }
    assert {d.task_state for d in Decision} == {
        TaskState.APPROVED,
        TaskState.REJECTED,
        TaskState.SUPPLEMENT_REQUESTED,
    }


def test_ranks_order_the_application_and_finished_states_are_the_last() -> None:
    order = [ApplicationState.UNKNOWN, ApplicationState.SUBMITTED, ApplicationState.ACCEPTED]
    assert [state.rank for state in order] == sorted(state.rank for state in order)
    assert {
        ApplicationState.REFUSED,
        ApplicationState.COMPLETED,
        ApplicationState.REJECTED,
        ApplicationState.WITHDRAWN,
    } == FINISHED
    assert all(state.rank == max(s.rank for s in ApplicationState) for state in FINISHED)
    assert {TaskState.APPROVED, TaskState.REJECTED, TaskState.CANCELLED} == TASK_FINISHED
    assert not TaskState.SUPPLEMENT_REQUESTED.finished and TaskState.CANCELLED.finished
    assert [level.rank for level in SupervisionLevel] == [0, 1, 2, 3]


def test_the_workflows_wire_names_stay_and_read_back() -> None:
    assert {state.workflow_value for state in TaskState} == WORKFLOW_TASK_VALUES
    for state in TaskState:
        assert TaskState.from_workflow_value(state.workflow_value) is state
    assert TaskState.STARTED.workflow_value == "open"

    examined = set(ApplicationState) - {ApplicationState.UNKNOWN}
    assert {state.workflow_value for state in examined} == WORKFLOW_APPLICATION_VALUES
    for value in WORKFLOW_APPLICATION_VALUES:
        state = ApplicationState.from_workflow_value(value)
        assert state.workflow_value == value
    # The workflow's one name for being in approval does not say "with deficiency".
    assert ApplicationState.ACCEPTED_WITH_DEFICIENCY.workflow_value == "in_approval"
    assert ApplicationState.from_workflow_value("in_approval") is ApplicationState.ACCEPTED


def test_the_states_are_their_values_as_strings() -> None:
    # Stored and shown as plain strings by intake and tracking.
    assert ApplicationState.ACCEPTED == "accepted" and f"{TaskState.STARTED}" == "started"
    assert "approved" in TASK_FINISHED
