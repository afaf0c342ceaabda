"""Fixtures shared by notify's unit and integration tests: realistic approval events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from onceonly.catalogue import Catalogue, default_catalogue
from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.pii import PiiSealer, mask_mobile
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

MOBILE = "13812345678"
# Committed deadline as the workflow computes it: end of the day in Beijing, in UTC.
DUE_AT = datetime(2025, 3, 14, 15, 59, 59, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class ApprovalEvents:
    """Builds approval events of one application, with the mobile sealed as intake does."""

    def __init__(self, sealer: PiiSealer) -> None:
        self.sealer = sealer

    def code(self) -> str:
        return f"T-{uuid.uuid4().hex[:12].upper()}"

    def contact(
        self,
        code: str,
        *,
        language: str = "zh",
        channels: tuple[str, ...] = ("sms",),
        mobile: str = MOBILE,
    ) -> application_pb2.Contact:
        return application_pb2.Contact(
            mobile=self.sealer.sealed_text(mobile, mask_mobile(mobile), context=f"{code}:mobile"),
            channels=list(channels),
            language=language,
        )

    def clock(self, due_at: datetime | None = DUE_AT) -> approval_pb2.Clock:
        clock = approval_pb2.Clock(committed_days=3, day_kind="working")
        if due_at is not None:
            clock.due_at.FromDatetime(due_at)
        return clock

    def accepted(
        self,
        code: str,
        *,
        outcome: int = approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED,
        matter: str = "business-startup",
        missing: tuple[str, ...] = (),
        reason: str = "",
        due_at: datetime | None = DUE_AT,
        **contact: object,
    ) -> approval_pb2.ApplicationAccepted:
        return approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code=matter,
            outcome=outcome,
            missing_materials=list(missing),
            reason=reason,
            clock=self.clock(due_at),
            contact=self.contact(code, **contact),  # type: ignore[arg-type]
            actor=approval_pb2.Actor(kind="system", id="workflow"),
        )

    def decided(
        self,
        code: str,
        *,
        outcome: int = approval_pb2.DECISION_OUTCOME_APPROVED,
        department: str = "tax",
        reason: str = "",
        **contact: object,
    ) -> approval_pb2.TaskDecided:
        return approval_pb2.TaskDecided(
            application_code=code,
            department_code=department,
            outcome=outcome,
            reason=reason,
            clock=self.clock(),
            actor=approval_pb2.Actor(kind="staff", id="tax-007", department_code=department),
            contact=self.contact(code, **contact),  # type: ignore[arg-type]
        )

    def completed(
        self, code: str, *, elicence_number: str | None = None, **contact: object
    ) -> approval_pb2.ApplicationCompleted:
        return approval_pb2.ApplicationCompleted(
            application_code=code,
            matter_code="business-startup",
            elicence_number=f"EL-{code}" if elicence_number is None else elicence_number,
            elicence_type="business-licence",
            clock=self.clock(),
            contact=self.contact(code, **contact),  # type: ignore[arg-type]
        )

    def rejected(
        self, code: str, *, reason: str = "经营范围涉及前置许可", **contact: object
    ) -> approval_pb2.ApplicationRejected:
        return approval_pb2.ApplicationRejected(
            application_code=code,
            matter_code="business-startup",
            department_code="market-regulation",
            reason=reason,
            contact=self.contact(code, **contact),  # type: ignore[arg-type]
        )

    def withdrawn(self, code: str, **contact: object) -> approval_pb2.ApplicationWithdrawn:
        return approval_pb2.ApplicationWithdrawn(
            application_code=code,
            reason="不再需要",
            contact=self.contact(code, **contact),  # type: ignore[arg-type]
            actor=approval_pb2.Actor(kind="applicant", id="portal"),
        )

    def task_started(self, code: str) -> approval_pb2.TaskStarted:
        return approval_pb2.TaskStarted(
            application_code=code, department_code="tax", task_name="发票申领", clock=self.clock()
        )

    def envelope(self, message: Message, code: str, *, event_id: str | None = None) -> Envelope:
        return new_envelope(
            message,
            source="/onceonly/workflow",
            application_code=code,
            event_id=event_id,
            trace_headers={"traceparent": TRACEPARENT},
        )


@pytest.fixture(scope="session")
def sealer() -> PiiSealer:
    return PiiSealer(DEVELOPMENT_PII_KEY)


@pytest.fixture
def events(sealer: PiiSealer) -> ApprovalEvents:
    return ApprovalEvents(sealer)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return default_catalogue()
