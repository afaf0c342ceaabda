"""Hypothesis strategies of one application's events, for the tests of this library and
of the services that fold with it (hypothesis is a development dependency: tests only).

`streams` draws (event, time) lists in any order, with the odd cases the fold must
survive: events of no department, unspecified outcomes, clocks without deadlines,
alerts without a raise time, ends without starts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2

CODE = "T-1"
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)

minutes = st.integers(0, 30 * 24 * 60)
departments = st.sampled_from(["tax", "fire", "tax", ""])
reasons = st.sampled_from(["", "缺照片", "欠税"])
kinds = st.sampled_from(["hearing", "expert_review", ""])


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


@st.composite
def clocks(draw) -> approval_pb2.Clock | None:
    if draw(st.booleans()):
        return None
    clock = approval_pb2.Clock(
        committed_days=draw(st.sampled_from([0, 3, 10])),
        day_kind=draw(st.sampled_from(["working", "natural", ""])),
        paused=draw(st.booleans()),
        provisional=draw(st.booleans()),
    )
    if draw(st.booleans()):
        clock.due_at.CopyFrom(ts(T0 + timedelta(minutes=draw(minutes))))
    return clock


def carrying(message: Message, clock: approval_pb2.Clock | None) -> Message:
    if clock is not None:
        message.clock.CopyFrom(clock)  # type: ignore[attr-defined]
    return message


@st.composite
def events(draw) -> Message:
    department = draw(departments)
    kind = draw(st.integers(0, 14))
    if kind == 0:
        return application_pb2.ApplicationSubmitted(application_code=CODE, matter_code="m")
    if kind == 1:
        message = approval_pb2.ApplicationAccepted(
            application_code=CODE,
            outcome=draw(st.integers(0, 4)),
            missing_materials=draw(st.lists(st.sampled_from(["seal", "proof"]), max_size=2)),
            reason=draw(reasons),
        )
        return carrying(message, draw(clocks()))
    if kind == 2:
        completed = approval_pb2.ApplicationCompleted(application_code=CODE, elicence_number="E")
        return carrying(completed, draw(clocks()))
    if kind == 3:
        return approval_pb2.ApplicationRejected(application_code=CODE, reason=draw(reasons))
    if kind == 4:
        return approval_pb2.ApplicationWithdrawn(application_code=CODE, reason=draw(reasons))
    if kind in (5, 6):
        message = approval_pb2.TaskStarted(
            application_code=CODE, department_code=department, task_name="审核"
        )
        return carrying(message, draw(clocks()))
    if kind in (7, 8):
        message = approval_pb2.TaskDecided(
            application_code=CODE,
            department_code=department,
            outcome=draw(st.integers(0, 3)),
            reason=draw(reasons),
        )
        return carrying(message, draw(clocks()))
    if kind == 9:
        return approval_pb2.TaskCancelled(
            application_code=CODE, department_code=department, reason=draw(reasons)
        )
    if kind == 10:
        return approval_pb2.TaskAssigned(
            application_code=CODE,
            department_code=department,
            assignee=draw(st.sampled_from(["", "officer-7"])),
        )
    if kind == 14:
        overrun = supervision_pb2.SpecialProcedureOverrun(
            application_code=CODE, department_code=department, kind=draw(kinds), max_days=5
        )
        if draw(st.booleans()):
            overrun.raised_at.CopyFrom(ts(T0 + timedelta(minutes=draw(minutes))))
        return overrun
    if kind in (11, 12):
        started = kind == 11
        of = approval_pb2.SpecialProcedureStarted if started else approval_pb2.SpecialProcedureEnded
        message = of(application_code=CODE, department_code=department, kind=draw(kinds))
        return carrying(message, draw(clocks()))
    alert = supervision_pb2.SupervisionAlert(
        application_code=CODE,
        department_code=department,
        level=draw(st.integers(0, 4)),
        escalation=draw(st.integers(0, 2)),
        seconds_left=draw(st.integers(-86400, 86400)),
    )
    if draw(st.booleans()):
        alert.legal_due_at.CopyFrom(ts(T0 + timedelta(minutes=draw(minutes))))
    if draw(st.booleans()):
        alert.raised_at.CopyFrom(ts(T0 + timedelta(minutes=draw(minutes))))
    return carrying(alert, draw(clocks()))


timed_events = st.tuples(events(), minutes.map(lambda m: T0 + timedelta(minutes=m)))
streams = st.lists(timed_events, max_size=30)
