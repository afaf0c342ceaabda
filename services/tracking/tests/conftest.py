"""Fixtures shared by tracking's unit and integration tests: realistic events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import (
    application_pb2,
    approval_pb2,
    notification_pb2,
    supervision_pb2,
    workorder_pb2,
)
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.pii import PiiSealer, mask_identifier, mask_mobile, mask_name
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.tracking.figures import Recorded

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

    def notification(self, code: str, cause: str = "") -> Message:
        """A NotificationSent about the event `cause` (none named: recorded at once)."""
        return notification_pb2.NotificationSent(
            application_code=code,
            cause_event_id=cause,
            channel="sms",
            recipient_masked=mask_mobile(MOBILE),
            status=notification_pb2.DELIVERY_STATUS_SENT,
            provider="local",
        )

    def alert(
        self,
        code: str,
        *,
        department: str = "public-security",
        level: int = 3,
        seconds_left: int = -3600,
        raised_at: datetime | None = None,
        escalation: int = 0,
        matter: str = "household-transfer",
    ) -> Message:
        """A SupervisionAlert as the workflow publishes it (level 2 yellow, 3 red)."""
        raised = raised_at or datetime(2025, 3, 13, 10, 0, tzinfo=UTC)
        return supervision_pb2.SupervisionAlert(
            application_code=code,
            matter_code=matter,
            department_code=department,
            level=level,
            escalation=escalation,
            clock=approval_pb2.Clock(
                committed_days=10,
                day_kind="natural",
                due_at=_ts(raised + timedelta(seconds=seconds_left)),
            ),
            seconds_left=seconds_left,
            raised_at=_ts(raised),
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


# A generated month of applications with known outcomes, for the supervision figures.
START = datetime(2030, 6, 1, tzinfo=UTC)
END = datetime(2030, 7, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SUPPLEMENT = approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED


@dataclass(frozen=True, slots=True)
class Month:
    matter: str
    department_a: str
    department_b: str
    recorded: list[Recorded]


def generate_month(events) -> Month:
    """30 applications, submitted one a day at 09:00 from 1 June 2030; application i:

    - 10 committed (natural) days for the application, 5 for each task; department A
      has a task in every application, department B in the even ones;
    - i % 5 == 0: both tasks approved after 3 days, completed an hour later (on time);
    - i % 5 == 1: tasks approved after 12 days, completed an hour later (overdue);
      department A had 10 days of extension approved on day 2 (on time against the
      extended limit), and A's clock and the application's passed their legal limits on
      day 11 (legal alerts);
    - i % 5 == 2: still open, department A red since day 6;
    - i % 5 == 3: still open, department A yellow since day 4, B approved on day 1;
      the odd ones (i % 10 == 3) asked for a supplement at intake first;
    - i % 5 == 4: A asks for a supplement on day 1, resumes on day 2, approves on day
      4, B approves on day 1, completed at day 4 + 2 h;
    - ratings: i % 5 in (0, 4) rate 5 (even i) or 4 (odd i) one hour after completion.
    - rectifications (差评整改) of department A: i % 5 == 1 opens one 2 hours after its
      tasks' decisions (day 12); i = 1, 11, 21 answer it on time 5 days later (i = 1 then
      closes it), i = 6 late 20 days later, i = 16 and 26 not at all;
    - supervision cases (督办件) of department A: i % 5 == 2 opens one with its red alert
      (day 6); i = 7, 17, 27 escalate to the supervision office on day 9; i = 12 is closed
      late on day 8, i = 7 on time on day 12, i = 22 late on day 10; i = 2, 17, 27 stay
      open.
    - 12345 work orders to department A: i % 5 == 3 files one about its application 2
      hours after its yellow alert (day 4); i = 3 is signed for and answered on time, the
      caller satisfied, closed on day 6; i = 8 is signed for late, answered late, the
      caller not satisfied, reopened and answered again on time, still open; i = 13 is
      signed for; the others wait (i = 28's is filed in July). One order about no
      application is filed on 16 June (filed in Xihu, 330106).
    """
    tag = uuid.uuid4().hex[:8]
    matter, a, b = f"m-{tag}", f"dep-a-{tag}", f"dep-b-{tag}"
    recorded: list[Recorded] = []
    for i in range(30):
        code = events.code()
        t = START + i * DAY + 9 * HOUR
        departments = [a, b] if i % 2 == 0 else [a]
        life: list[tuple[timedelta, Message]] = [(timedelta(0), events.submitted(code, matter))]
        if i % 10 == 3:
            outcome = approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED
            life.append((HOUR / 2, events.accepted(code, matter, outcome=outcome)))
        life.append((HOUR, events.accepted(code, matter)))
        life += [(2 * HOUR, _started(code, d, t + 2 * HOUR)) for d in departments]
        kind = i % 5
        if kind in (0, 1):
            after = 3 * DAY if kind == 0 else 12 * DAY
            if kind == 1:
                life.append((2 * DAY, _extension(code, a, 10)))
                for clock in (a, ""):
                    legal = supervision_pb2.SUPERVISION_LEVEL_LEGAL
                    raised = t + 11 * DAY
                    alert = events.alert(
                        code, department=clock, matter=matter, level=legal, raised_at=raised
                    )
                    life.append((11 * DAY, alert))
            life += [(after, events.task_decided(code, d)) for d in departments]
            life.append((after + HOUR, events.completed(code, matter)))
        elif kind == 2:
            life.append(
                (
                    6 * DAY,
                    events.alert(code, department=a, matter=matter, level=3, raised_at=t + 6 * DAY),
                )
            )
        elif kind == 3:
            if b in departments:
                life.append((DAY, events.task_decided(code, b)))
            life.append(
                (
                    4 * DAY,
                    events.alert(
                        code,
                        department=a,
                        matter=matter,
                        level=2,
                        seconds_left=3600,
                        raised_at=t + 4 * DAY,
                    ),
                )
            )
        else:
            life.append((DAY, events.task_decided(code, a, outcome=SUPPLEMENT)))
            if b in departments:
                life.append((DAY + HOUR, events.task_decided(code, b)))
            life.append((2 * DAY, _started(code, a, t + 2 * DAY)))
            life.append((4 * DAY, events.task_decided(code, a)))
            life.append((4 * DAY + 2 * HOUR, events.completed(code, matter)))
        life += _cases(code, i, department=a, matter=matter)
        life += _work_orders(code, i, department=a)
        if kind in (0, 4):
            done = max(offset for offset, _ in life)
            level = 5 if i % 2 == 0 else 4
            life.append(
                (done + HOUR, application_pb2.RatingGiven(application_code=code, level=level))
            )
        life.sort(key=lambda item: item[0])
        recorded += [Recorded(code, message, t + offset) for offset, message in life]
    loose = f"WO-{tag}"  # about no application: its own timeline
    filed = workorder_pb2.WorkOrderFiled(
        application_code=loose, order_code=loose, department_code=a, region_code="330106"
    )
    recorded.append(Recorded(loose, filed, START + 15 * DAY))
    return Month(matter=matter, department_a=a, department_b=b, recorded=recorded)


def _cases(code: str, i: int, *, department: str, matter: str) -> list[tuple[timedelta, Message]]:
    """The rectification or supervision case of application i (generate_month)."""
    common = {"application_code": code, "department_code": department, "matter_code": matter}
    life: list[tuple[timedelta, Message]] = []
    if i % 5 == 1:
        case = {**common, "case_code": f"ZG-{code}"}
        opened = 12 * DAY + 2 * HOUR
        life.append((opened, supervision_pb2.RectificationOpened(**case, rating_level=1)))
        answers = {1: (5, False), 11: (5, False), 21: (5, False), 6: (20, True)}
        if i in answers:
            days, late = answers[i]
            answered = supervision_pb2.RectificationAnswered(**case, answer="已答复", late=late)
            life.append((opened + days * DAY, answered))
        if i == 1:
            closed = supervision_pb2.RectificationClosed(**case, rater_satisfied=True)
            life.append((opened + 6 * DAY, closed))
    elif i % 5 == 2:
        case = {**common, "case_code": f"DB-{code}-{department}-1"}
        opened = supervision_pb2.SupervisionCaseOpened(**case, level=1, addressee="department_head")
        life.append((6 * DAY + HOUR, opened))
        if i in (7, 17, 27):
            escalated = supervision_pb2.SupervisionCaseEscalated(
                **case, level=2, addressee="supervision_office"
            )
            life.append((9 * DAY + HOUR, escalated))
        closings = {12: (8, 1, True), 7: (12, 2, False), 22: (10, 1, True)}
        if i in closings:
            day, level, late = closings[i]
            closed = supervision_pb2.SupervisionCaseClosed(
                **case, level=level, response="已整改", late=late
            )
            life.append((day * DAY + HOUR, closed))
    return life


def _work_orders(code: str, i: int, *, department: str) -> list[tuple[timedelta, Message]]:
    """The 12345 work order about application i (generate_month)."""
    if i % 5 != 3:
        return []
    order = {"application_code": code, "order_code": f"WO-{code}", "department_code": department}
    filed = 4 * DAY + 2 * HOUR
    life: list[tuple[timedelta, Message]] = [
        (filed, workorder_pb2.WorkOrderFiled(**order, attached_application_code=code)),
    ]
    if i == 3:
        life += [
            (filed + HOUR, workorder_pb2.WorkOrderSigned(**order, round=1)),
            (filed + DAY, workorder_pb2.WorkOrderAnswered(**order, round=1, reply="已处理")),
            (filed + 2 * DAY, workorder_pb2.WorkOrderCalledBack(**order, round=1, satisfied=True)),
            (filed + 2 * DAY + HOUR, workorder_pb2.WorkOrderClosed(**order, rounds=1)),
        ]
    elif i == 8:
        life += [
            (filed + DAY, workorder_pb2.WorkOrderSigned(**order, round=1, late=True)),
            (filed + 3 * DAY, workorder_pb2.WorkOrderAnswered(**order, round=1, late=True)),
            (filed + 4 * DAY, workorder_pb2.WorkOrderCalledBack(**order, round=1)),
            (filed + 4 * DAY + HOUR, workorder_pb2.WorkOrderReopened(**order)),
            (filed + 5 * DAY, workorder_pb2.WorkOrderAnswered(**order, round=2)),
        ]
    elif i == 13:
        life.append((filed + 2 * HOUR, workorder_pb2.WorkOrderSigned(**order, round=1)))
    return life


def _extension(code: str, department: str, days: int) -> Message:
    return approval_pb2.ExtensionDecided(
        application_code=code,
        department_code=department,
        approved=True,
        days=days,
        reason="需现场核查 / on-site check needed",
        extended_days_total=days,
        actor=approval_pb2.Actor(kind="staff", id="head-1", department_code=department),
    )


def _started(code: str, department: str, at: datetime) -> Message:
    return approval_pb2.TaskStarted(
        application_code=code,
        department_code=department,
        task_name="审核",
        clock=approval_pb2.Clock(committed_days=5, day_kind="natural", started_at=_ts(at)),
    )


@pytest.fixture
def month(events: EventFactory) -> Month:
    return generate_month(events)
