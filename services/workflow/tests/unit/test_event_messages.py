"""Domain events to protobuf, and through Temporal's data converter as the publishing
activity receives them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from temporalio.converter import DataConverter, value_to_type

from onceonly.events.v1 import approval_pb2, supervision_pb2
from onceonly.workflow import approval_events as ev
from onceonly.workflow.acceptance import AcceptanceOutcome
from onceonly.workflow.event_messages import to_message
from onceonly.workflow.shared import CheckOutcome, ContactInput, Outcome, PublishRequest
from onceonly.workflow.supervision_clock import Level

NOW = datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)
CLOCK = ev.Clock(5, "working", NOW, NOW, paused=True, provisional=True)
CONTACT = ContactInput("sealed-mobile", "138****5678", ["sms", "app"], "en")
STAFF = ev.staff("u-1", "public-security")

EXAMPLES: list[ev.ApprovalEvent] = [
    ev.ApplicationAccepted(
        "household-transfer",
        AcceptanceOutcome.ACCEPTED_WITH_DEFICIENCY,
        CLOCK,
        CONTACT,
        missing_materials=["household-register"],
        checks=[CheckOutcome("population", True, "found", "已核验")],
        auto_approved=True,
    ),
    ev.TaskStarted("public-security", "户口迁入审核", CLOCK),
    ev.TaskDecided(
        "public-security", Outcome.SUPPLEMENT_REQUESTED, "missing", CLOCK, STAFF, CONTACT
    ),
    ev.TaskDecided("public-security", Outcome.APPROVED, "", CLOCK, STAFF),
    ev.TaskCancelled("public-security", "withdrawn"),
    ev.TaskAssigned("public-security", "u-2", STAFF),
    ev.SpecialProcedureStarted("public-security", "hearing", "note", CLOCK, STAFF),
    ev.SpecialProcedureEnded("public-security", "hearing", "note", CLOCK, STAFF),
    ev.ApplicationCompleted(
        "household-transfer", "EL-1", "household", CLOCK, CONTACT, NOW, "3301**************"
    ),
    ev.ApplicationRejected("household-transfer", "public-security", "Art. 10", CONTACT),
    ev.ApplicationWithdrawn("changed my mind", CONTACT, ev.Actor(ev.ActorKind.APPLICANT, "i-1")),
    ev.SupervisionAlert("household-transfer", "", Level.RED, 2, CLOCK, -3600, NOW),
    ev.TaskDecided(
        "fire",
        Outcome.SUPPLEMENT_REQUESTED,
        "drawings unreadable",
        CLOCK,
        STAFF,
        CONTACT,
        missing_materials=["fire-design", "site-plan"],
        supplement_due_at=NOW,
    ),
    ev.ClocksResumed(["fire"], ["fire-design"], ev.Actor(ev.ActorKind.APPLICANT, "i-1")),
    ev.TaskReturned("fire", "check again", CLOCK, STAFF),
    ev.DepartmentAdded("tax", "发票", "invoices involved", CLOCK, STAFF),
    ev.DepartmentRemoved("tax", "not needed", STAFF),
    ev.ExtensionRequested("fire", 10, "expert review", STAFF),
    ev.ExtensionDecided("fire", True, 10, "expert review", "ok", CLOCK, STAFF, 10, CONTACT),
    ev.SupervisionAlert(
        "construction-joint-approval", "fire", Level.LEGAL, 0, CLOCK, -86400, NOW, legal_due_at=NOW
    ),
    ev.SpecialProcedureOverrun(
        "construction-joint-approval", "fire", "on_site_inspection", 5, "working", NOW, NOW, NOW
    ),
]


def test_every_event_type_has_an_example() -> None:
    assert {type(e) for e in EXAMPLES} == set(ev.EVENT_TYPES.values())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_field_reaches_the_message(event: ev.ApprovalEvent) -> None:
    message = to_message("330100-20260302-000001X", event)
    assert message.DESCRIPTOR.full_name == event.TYPE
    assert message.application_code == "330100-20260302-000001X"
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if value is None:
            assert not message.HasField(item.name)
        elif isinstance(value, (str, int, bool)) and not hasattr(value, "name"):
            assert getattr(message, item.name) == value, item.name
    assert message.actor.kind == event.actor.kind.value  # type: ignore[attr-defined]


def test_values_map_by_kind() -> None:
    decided = to_message("C", EXAMPLES[2])
    assert decided.outcome == approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED
    assert decided.clock.due_at.ToDatetime(tzinfo=UTC) == NOW
    assert decided.clock.paused and decided.clock.provisional
    assert decided.contact.mobile.masked == "138****5678"
    assert list(decided.contact.channels) == ["sms", "app"]
    assert decided.actor.department_code == "public-security"
    accepted = to_message("C", EXAMPLES[0])
    assert accepted.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY
    legal = to_message("C", EXAMPLES[-2])
    assert legal.level == supervision_pb2.SUPERVISION_LEVEL_LEGAL
    assert legal.legal_due_at.ToDatetime(tzinfo=UTC) == NOW
    assert [c.reason_zh for c in accepted.checks] == ["已核验"]
    alert = to_message("C", next(e for e in EXAMPLES if isinstance(e, ev.SupervisionAlert)))
    assert alert.level == supervision_pb2.SUPERVISION_LEVEL_RED
    assert alert.raised_at.ToDatetime(tzinfo=UTC) == NOW


def test_an_empty_instant_is_an_empty_timestamp_as_before() -> None:
    clock = ev.Clock(5, "working", None, None)
    message = to_message("C", ev.TaskStarted("d", "t", clock))
    assert message.HasField("clock") and message.clock.HasField("due_at")
    assert message.clock.due_at.seconds == 0


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
async def test_the_event_survives_the_data_converter(event: ev.ApprovalEvent) -> None:
    request = PublishRequest("approval-events", "id", "C", event.TYPE, NOW, event=event)
    converter = DataConverter.default
    (decoded,) = await converter.decode(await converter.encode([request]), [PublishRequest])
    assert value_to_type(ev.EVENT_TYPES[decoded.ce_type], decoded.event) == event


def test_a_supplement_request_carries_its_list_and_deadline() -> None:
    request = to_message("C", EXAMPLES[12])
    assert list(request.missing_materials) == ["fire-design", "site-plan"]
    assert request.supplement_due_at.ToDatetime(tzinfo=UTC) == NOW
    assert not to_message("C", EXAMPLES[3]).HasField("supplement_due_at")
