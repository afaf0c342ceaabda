"""Fixtures shared by tracking's unit and integration tests: realistic events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import application_pb2, approval_pb2, notification_pb2
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.pii import PiiSealer, mask_identifier, mask_mobile, mask_name
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

NAME = "张三丰"
IDENTIFIER = "430102199001011234"
MOBILE = "13812345678"


def _ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class EventFactory:
    """Builds the events of one application's life, with sealed personal data."""

    def __init__(self) -> None:
        self.sealer = PiiSealer(DEVELOPMENT_PII_KEY)
        self.t0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

    def code(self) -> str:
        return f"T-{uuid.uuid4().hex[:12].upper()}"

    def contact(self, code: str) -> application_pb2.Contact:
        return application_pb2.Contact(
            mobile=self.sealer.sealed_text(MOBILE, mask_mobile(MOBILE), context=f"{code}:mobile"),
            channels=["sms"],
            language="zh",
        )

    def submitted(self, code: str, matter: str = "household-transfer") -> Message:
        return application_pb2.ApplicationSubmitted(
            application_code=code,
            matter_code=matter,
            integrator_id="portal",
            applicant=application_pb2.Applicant(
                kind=application_pb2.APPLICANT_KIND_PERSON,
                name=self.sealer.sealed_text(NAME, mask_name(NAME), context=f"{code}:name"),
                identifier=self.sealer.sealed_text(
                    IDENTIFIER, mask_identifier(IDENTIFIER), context=f"{code}:identifier"
                ),
            ),
            contact=self.contact(code),
            materials=[
                application_pb2.Material(code="id-card", reference="doc://1"),
                application_pb2.Material(code="household-register", reference="doc://2"),
            ],
            form_json='{"destination": "Hangzhou"}',
            submitted_at=_ts(self.t0),
        )

    def accepted(self, code: str, matter: str = "household-transfer", outcome: int = 1) -> Message:
        return approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code=matter,
            outcome=outcome,
            contact=self.contact(code),
            actor=approval_pb2.Actor(kind="system", id="workflow"),
            clock=approval_pb2.Clock(committed_days=10, day_kind="natural"),
        )

    def task_started(self, code: str, department: str = "public-security") -> Message:
        return approval_pb2.TaskStarted(
            application_code=code,
            department_code=department,
            task_name="户籍迁移审核",
            clock=approval_pb2.Clock(
                committed_days=10,
                day_kind="natural",
                started_at=_ts(self.t0),
                due_at=_ts(self.t0 + timedelta(days=10)),
            ),
        )

    def task_decided(
        self, code: str, department: str = "public-security", outcome: int = 1, reason: str = ""
    ) -> Message:
        return approval_pb2.TaskDecided(
            application_code=code,
            department_code=department,
            outcome=outcome,
            reason=reason,
            actor=approval_pb2.Actor(kind="staff", id="officer-7", department_code=department),
            contact=self.contact(code),
        )

    def completed(self, code: str, matter: str = "household-transfer") -> Message:
        return approval_pb2.ApplicationCompleted(
            application_code=code,
            matter_code=matter,
            elicence_number="EL-1",
            elicence_type="household",
            contact=self.contact(code),
        )

    def notification(self, code: str) -> Message:
        return notification_pb2.NotificationSent(
            application_code=code,
            cause_event_id=str(uuid.uuid4()),
            channel="sms",
            recipient_masked=mask_mobile(MOBILE),
            status=notification_pb2.DELIVERY_STATUS_SENT,
            provider="local",
        )

    def envelope(
        self,
        message: Message,
        code: str,
        *,
        minutes: int = 0,
        event_id: str | None = None,
        source: str = "/onceonly/test",
    ) -> Envelope:
        return new_envelope(
            message,
            source=source,
            application_code=code,
            event_id=event_id,
            time=self.t0 + timedelta(minutes=minutes),
        )


@pytest.fixture
def events() -> EventFactory:
    return EventFactory()
