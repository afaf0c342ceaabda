"""A case's events as protobuf messages (topic supervision-alerts): pure mapping of the
workflows' `CaseEvent` (rectifications of bad ratings and supervision cases)."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message

from onceonly.events.v1 import supervision_pb2
from onceonly.workflow.case_shared import CaseEvent

CASE_EVENTS = frozenset(
    {
        "SupervisionCaseOpened",
        "SupervisionCaseEscalated",
        "SupervisionCaseClosed",
        "RectificationOpened",
        "RectificationProgressed",
        "RectificationAnswered",
        "RectificationClosed",
        "RectificationAlert",
    }
)
LEVELS = {
    "yellow": "SUPERVISION_LEVEL_YELLOW",
    "red": "SUPERVISION_LEVEL_RED",
}


def to_message(event: CaseEvent) -> Message:
    """The protobuf message of `event`; ValueError for an unknown type or field."""
    if event.type not in CASE_EVENTS:
        raise ValueError(f"unknown case event {event.type!r}")
    message = getattr(supervision_pb2, event.type)()
    fields = dict(event.fields)
    if "level" in fields and isinstance(fields["level"], str) and fields["level"] in LEVELS:
        fields["level"] = LEVELS[fields["level"]]
    try:
        json_format.ParseDict({"application_code": event.application_code, **fields}, message)
    except json_format.ParseError as exc:
        raise ValueError(f"{event.type}: {exc}") from None
    return message
