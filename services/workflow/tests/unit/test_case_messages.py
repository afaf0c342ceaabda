"""Case events as protobuf messages: the workflow's JSON fields, mapped by name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onceonly.events.v1 import supervision_pb2
from onceonly.workflow.case_messages import CASE_EVENTS, to_message
from onceonly.workflow.case_shared import CaseEvent

AT = datetime(2026, 12, 5, 2, tzinfo=UTC)


def event(type_: str, **fields: object) -> CaseEvent:
    return CaseEvent("id-1", type_, "330100-20261205-000001X", AT, dict(fields))


def test_every_case_event_is_a_supervision_message() -> None:
    for name in CASE_EVENTS:
        message = to_message(event(name, case_code="DB-1", department_code="fire"))
        assert isinstance(message, getattr(supervision_pb2, name))
        assert message.application_code == "330100-20261205-000001X"


def test_times_levels_and_actors_are_mapped() -> None:
    message = to_message(
        event(
            "RectificationAlert",
            case_code="ZG-330100-20261205-000001X",
            level="red",
            due_at="2026-12-20T15:59:59+00:00",
            seconds_left=-5,
            actor={"kind": "system", "id": "workflow"},
        )
    )
    assert message.level == supervision_pb2.SUPERVISION_LEVEL_RED
    assert message.due_at.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 20, 15, 59, 59, tzinfo=UTC)
    assert message.seconds_left == -5 and message.actor.kind == "system"


def test_unknown_types_and_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown case event"):
        to_message(event("SupervisionAlert"))
    with pytest.raises(ValueError, match="RectificationOpened"):
        to_message(event("RectificationOpened", colour="red"))
