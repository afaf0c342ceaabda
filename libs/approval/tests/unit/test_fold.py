"""The fold, rule by rule, on the events of realistic applications."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.approval import (
    Alert,
    ApplicationState,
    ApprovalStatus,
    Clock,
    PausedInterval,
    SupervisionLevel,
    TaskState,
    TaskView,
    fold,
)
from onceonly.events.v1 import application_pb2, approval_pb2, notification_pb2, supervision_pb2

CODE = "330100-20250303-0004276"
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
TAX, FIRE = "tax", "fire"


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def clock(days: int = 10, *, paused: bool = False, due: datetime | None = None):
    found = approval_pb2.Clock(
        committed_days=days, day_kind="working", started_at=ts(T0), paused=paused
    )
    found.due_at.CopyFrom(ts(due or T0 + timedelta(days=days)))
    return found


def folded(*timed: tuple[float, Message], status: ApprovalStatus | None = None) -> ApprovalStatus:
    """Fold (hours after T0, event) pairs."""
    status = status or ApprovalStatus(application_code=CODE)
    for hours, message in timed:
        status = fold(status, message, at=T0 + timedelta(hours=hours))
    return status


def accepted(outcome: int = approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED, *missing: str, **kw):
    return approval_pb2.ApplicationAccepted(
        application_code=CODE,
        matter_code="business-startup",
        outcome=outcome,  # type: ignore[arg-type]
        missing_materials=list(missing),
        clock=clock(3),
        **kw,
    )


def started(department: str = TAX, **kw) -> approval_pb2.TaskStarted:
    return approval_pb2.TaskStarted(
        application_code=CODE, department_code=department, task_name="发票", clock=clock(), **kw
    )


def decided(
    department: str = TAX,
    outcome: int = approval_pb2.DECISION_OUTCOME_APPROVED,
    reason: str = "",
) -> approval_pb2.TaskDecided:
    return approval_pb2.TaskDecided(
        application_code=CODE,
        department_code=department,
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
        clock=clock(paused=outcome == approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED),
    )


def special(department: str = TAX, *, ended: bool = False, kind: str = "hearing", paused=False):
    kind_of = approval_pb2.SpecialProcedureEnded if ended else approval_pb2.SpecialProcedureStarted
    return kind_of(
        application_code=CODE,
        department_code=department,
        kind=kind,
        clock=clock(paused=paused or not ended),
    )


def alert(department: str = TAX, level: int = 2, *, raised: float, due: datetime | None = None):
    message = supervision_pb2.SupervisionAlert(
        application_code=CODE,
        matter_code="business-startup",
        department_code=department,
        level=level,  # type: ignore[arg-type]
        seconds_left=3600,
        raised_at=ts(T0 + timedelta(hours=raised)),
    )
    if due is not None:
        message.clock.CopyFrom(clock(due=due))
    return message


def test_an_application_from_submission_to_completion() -> None:
    submitted = application_pb2.ApplicationSubmitted(
        application_code=CODE, matter_code="business-startup"
    )
    status = folded((0, submitted))
    assert status.state is ApplicationState.SUBMITTED
    assert status.matter_code == "business-startup"

    status = folded((1, accepted()), (1, started(TAX)), (1, started(FIRE)), status=status)
    assert status.state is ApplicationState.ACCEPTED
    assert status.clock == Clock(
        committed_days=3,
        day_kind="working",
        started_at=T0,
        due_at=T0 + timedelta(days=3),
    )
    assert status.due_at == T0 + timedelta(days=3)
    tax = status.tasks[TAX]
    assert (tax.state, tax.task_name) == (TaskState.STARTED, "发票")
    assert tax.started_at == T0 + timedelta(hours=1)
    assert (tax.committed_days, tax.day_kind) == (10, "working")
    assert tax.due_at == T0 + timedelta(days=10)
    assert tax.paused is False and tax.clock is not None and tax.clock.committed_days == 10

    completed = approval_pb2.ApplicationCompleted(
        application_code=CODE, elicence_number="EL-1", clock=clock(3)
    )
    status = folded((5, decided(TAX)), (6, decided(FIRE)), (6, completed), status=status)
    assert status.state is ApplicationState.COMPLETED and status.finished
    assert status.elicence_number == "EL-1"
    assert status.tasks[TAX].state is TaskState.APPROVED
    assert status.tasks[TAX].decided_at == T0 + timedelta(hours=5)
    assert status.tasks[TAX].supervision_level is SupervisionLevel.NONE
    assert status.last_event_at == T0 + timedelta(hours=6)


def test_acceptance_outcomes_and_what_is_missing() -> None:
    asked = folded((0, accepted(approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED, "a", "b")))
    assert asked.state is ApplicationState.SUPPLEMENT_REQUESTED and asked.paused
    assert (asked.missing_materials, asked.missing_since) == (("a", "b"), T0)

    deficient = folded(
        (1, accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY, "seal")),
        status=asked,
    )
    assert deficient.state is ApplicationState.ACCEPTED_WITH_DEFICIENCY
    assert deficient.missing_materials == ("seal",) and not deficient.paused

    refused = folded(
        (0, accepted(approval_pb2.ACCEPTANCE_OUTCOME_REFUSED, "proof", reason="逾期未补正"))
    )
    assert refused.state is ApplicationState.REFUSED
    # What was missing stays: it is why the application was refused.
    assert (refused.reason, refused.missing_materials) == ("逾期未补正", ("proof",))

    # The window's written refusal (不予受理决定): its number, basis and route are the reason.
    window = folded(
        (
            0,
            accepted(
                approval_pb2.ACCEPTANCE_OUTCOME_REFUSED,
                reason="不属于本机关职权范围",
                decision_number="BYSL-1",
                legal_basis="《行政许可法》第三十二条",
            ),
        )
    )
    assert window.state is ApplicationState.REFUSED
    assert (
        window.reason == "不属于本机关职权范围；决定书 / decision BYSL-1；"
        "依据 / legal basis: 《行政许可法》第三十二条"
    )

    unspecified = folded((0, accepted(approval_pb2.ACCEPTANCE_OUTCOME_UNSPECIFIED)))
    assert unspecified.state is ApplicationState.UNKNOWN
    assert unspecified.due_at == T0 + timedelta(days=3)  # the deadline is still news


def test_finished_applications_and_tasks_never_change() -> None:
    rejected = approval_pb2.ApplicationRejected(application_code=CODE, reason="欠税")
    status = folded(
        (0, accepted()),
        (1, started()),
        (2, decided(outcome=approval_pb2.DECISION_OUTCOME_REJECTED, reason="欠税")),
        (2, rejected),
    )
    later = folded(
        (3, accepted(approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED, "a")),
        (3, approval_pb2.ApplicationWithdrawn(application_code=CODE, reason="x")),
        (4, started()),
        (4, approval_pb2.TaskAssigned(application_code=CODE, department_code=TAX, assignee="s")),
        (5, special()),
        (6, alert(raised=6)),
        status=status,
    )
    assert later.state is ApplicationState.REJECTED and later.reason == "欠税"
    assert later.tasks == status.tasks
    assert later.last_event_at == T0 + timedelta(hours=6)


def test_a_submission_recorded_after_its_acceptance_does_not_go_back() -> None:
    submitted = application_pb2.ApplicationSubmitted(application_code=CODE, matter_code="m")
    status = folded((1, accepted()), (0, submitted))
    assert status.state is ApplicationState.ACCEPTED
    assert status.matter_code == "business-startup"  # the first one told
    assert status.last_event_at == T0 + timedelta(hours=1)


def test_a_task_resumed_after_a_supplement_keeps_its_start_and_the_pause() -> None:
    status = folded(
        (1, started()),
        (2, decided(outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED, reason="缺照片")),
    )
    task = status.tasks[TAX]
    assert task.state is TaskState.SUPPLEMENT_REQUESTED and task.reason == "缺照片"
    assert task.paused and task.paused_since == T0 + timedelta(hours=2) and status.paused

    status = folded((26, started()), status=status)
    task = status.tasks[TAX]
    assert task.state is TaskState.STARTED and not task.paused and not status.paused
    assert task.started_at == T0 + timedelta(hours=1)
    assert (task.reason, task.decided_at, task.paused_since) == ("", None, None)
    assert task.resumed_at == T0 + timedelta(hours=26)
    assert task.paused_intervals == (
        PausedInterval(T0 + timedelta(hours=2), T0 + timedelta(hours=26), "supplement"),
    )
    assert task.paused_seconds == 86400


def test_a_special_procedure_stops_the_clock_and_its_time_is_kept() -> None:
    status = folded((1, started()), (5, special()))
    task = status.tasks[TAX]
    assert (task.special_procedure, task.special_since) == ("hearing", T0 + timedelta(hours=5))
    assert task.paused and status.paused

    again = folded((6, special(kind="expert_review")), status=status)
    assert again == replace_last(status, 6)  # the workflow refuses a second one

    status = folded((11, special(ended=True, kind="ignored")), status=status)
    task = status.tasks[TAX]
    assert (task.special_procedure, task.special_since, task.paused) == (None, None, False)
    assert task.paused_intervals == (
        PausedInterval(
            T0 + timedelta(hours=5), T0 + timedelta(hours=11), "special_procedure:hearing"
        ),
    )
    assert task.paused_seconds == 6 * 3600
    # An end without a start changes nothing.
    assert folded((12, special(ended=True)), status=status).tasks == status.tasks


def test_the_clock_stays_paused_when_the_workflow_says_another_hold_remains() -> None:
    status = folded((1, started()), (2, special()), (3, special(ended=True, paused=True)))
    assert status.tasks[TAX].paused is True


def test_alerts_count_until_the_decision_and_stale_ones_are_ignored() -> None:
    status = folded((0, accepted()), (1, started()), (1, started(FIRE)))
    status = folded((30, alert(raised=30)), status=status)
    assert status.tasks[TAX].supervision_level is SupervisionLevel.YELLOW
    assert status.supervision_level is SupervisionLevel.YELLOW

    status = folded((40, alert(level=3, raised=40)), (41, alert(level=2, raised=35)), status=status)
    assert status.supervision_level is SupervisionLevel.RED  # the older yellow came late
    assert status.tasks[TAX].alert == Alert(SupervisionLevel.RED, 0, 3600, T0 + timedelta(hours=40))

    status = folded((50, decided()), (51, alert(level=3, raised=49)), status=status)
    assert status.tasks[TAX].supervision_level is SupervisionLevel.NONE
    assert status.supervision_level is SupervisionLevel.NONE

    # A task resumed after a supplement: alerts raised before the resumption are stale.
    supplement = decided(FIRE, approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED)
    stale = alert(FIRE, raised=55)
    status = folded((52, supplement), (60, started(FIRE)), (61, stale), status=status)
    assert status.tasks[FIRE].open_level is SupervisionLevel.NONE
    status = folded((62, alert(FIRE, level=3, raised=62)), status=status)
    assert status.supervision_level is SupervisionLevel.RED


def test_the_applications_own_clock_has_its_own_alert() -> None:
    due = T0 + timedelta(days=3)
    status = folded((0, accepted()), (70, alert("", level=3, raised=70, due=due)))
    assert status.alert == Alert(SupervisionLevel.RED, 0, 3600, T0 + timedelta(hours=70), due)
    assert status.due_at == due and status.tasks == {}
    assert status.supervision_level is SupervisionLevel.RED
    assert folded((71, alert("", level=2, raised=69)), status=status).alert == status.alert
    completed = approval_pb2.ApplicationCompleted(application_code=CODE)
    assert folded((72, completed), status=status).supervision_level is SupervisionLevel.NONE


def test_an_alert_before_the_start_names_the_task_without_a_state() -> None:
    status = folded((30, alert(raised=30)), (31, started()))
    assert status.tasks[TAX].state is TaskState.STARTED
    early = folded((30, alert(raised=30)))
    assert early.tasks[TAX].state is None
    assert early.tasks[TAX].state_or_started is TaskState.STARTED


def test_assignments_name_the_reviewer_until_the_decision() -> None:
    assign = approval_pb2.TaskAssigned
    status = folded(
        (1, started()),
        (2, assign(application_code=CODE, department_code=TAX, assignee="officer-7")),
        (3, assign(application_code=CODE, department_code=TAX, assignee="")),
    )
    assert status.tasks[TAX].assignee == "officer-7"
    status = folded(
        (4, decided()),
        (5, assign(application_code=CODE, department_code=TAX, assignee="x")),
        status=status,
    )
    assert status.tasks[TAX].assignee == "officer-7"


def test_cancellation_and_withdrawal() -> None:
    cancelled = approval_pb2.TaskCancelled(
        application_code=CODE, department_code=FIRE, reason="申请人撤回"
    )
    withdrawn = approval_pb2.ApplicationWithdrawn(application_code=CODE, reason="不办了")
    status = folded((0, accepted()), (1, started(FIRE)), (2, cancelled), (2, withdrawn))
    fire = status.tasks[FIRE]
    assert (fire.state, fire.reason, fire.decided_at) == (
        TaskState.CANCELLED,
        "申请人撤回",
        T0 + timedelta(hours=2),
    )
    assert status.state is ApplicationState.WITHDRAWN and status.reason == "不办了"
    assert not status.paused


def test_ratings_keep_the_latest_valid_level() -> None:
    rate = application_pb2.RatingGiven
    status = folded(
        (0, rate(application_code=CODE, level=2)),
        (1, rate(application_code=CODE, level=5)),
        (2, rate(application_code=CODE, level=9)),
    )
    assert status.rating == 5


def test_other_events_move_only_the_time_and_times_are_utc() -> None:
    notice = notification_pb2.NotificationSent(application_code=CODE)
    status = fold(ApprovalStatus(), notice, at=datetime(2025, 3, 3, 9, 0))
    assert status == ApprovalStatus(last_event_at=datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    china = timezone(timedelta(hours=8))
    earlier = fold(status, notice, at=datetime(2025, 3, 3, 9, 0, tzinfo=china))
    assert earlier.last_event_at == status.last_event_at
    task = fold(status, started(), at=datetime(2025, 3, 3, 18, 0, tzinfo=china)).tasks[TAX]
    assert task.started_at == datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    assert task.started_at.tzinfo is UTC


def test_a_clock_without_a_deadline_yet_has_none_not_1970() -> None:
    waiting = approval_pb2.ApplicationAccepted(
        application_code=CODE,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
        clock=approval_pb2.Clock(committed_days=3, due_at=Timestamp(), started_at=Timestamp()),
    )
    status = folded((0, waiting))
    assert status.clock == Clock(committed_days=3)
    assert status.due_at is None


def test_events_without_a_department_change_no_task() -> None:
    status = folded((1, started("")), (2, decided("")), (3, special("")))
    assert status.tasks == {}
    assert status == ApprovalStatus(application_code=CODE, last_event_at=T0 + timedelta(hours=3))


def test_a_task_view_is_open_until_decided() -> None:
    assert TaskView("x").open_level is SupervisionLevel.NONE
    red = TaskView("x", supervision_level=SupervisionLevel.RED)
    assert red.open_level is SupervisionLevel.RED and not red.finished
    closed = TaskView("x", state=TaskState.CANCELLED, supervision_level=SupervisionLevel.RED)
    assert closed.finished and closed.open_level is SupervisionLevel.NONE


def replace_last(status: ApprovalStatus, hours: float) -> ApprovalStatus:
    """`status` as it is one event later that changed nothing else."""
    return replace(status, last_event_at=T0 + timedelta(hours=hours))


# -- department practice: returns, added and removed departments, extensions, lists --


def test_a_returned_approval_opens_the_task_again_and_older_alerts_no_longer_count() -> None:
    returned = approval_pb2.TaskReturned(
        application_code=CODE,
        department_code=TAX,
        reason="复核",
        clock=clock(due=T0 + timedelta(days=12)),
        previous_outcome=approval_pb2.DECISION_OUTCOME_APPROVED,
    )
    status = folded(
        (0, accepted()), (0, started()), (0, started(FIRE)), (5, decided()), (8, returned)
    )
    task = status.tasks[TAX]
    assert task.state is TaskState.STARTED and task.decided_at is None
    assert task.reason == "复核" and task.due_at == T0 + timedelta(days=12)
    assert status.state is ApplicationState.ACCEPTED
    # An alert raised before the return belongs to the task's earlier clock.
    assert folded((9, alert(raised=7)), status=status).tasks[TAX].alert is None
    assert folded((9, alert(raised=9)), status=status).tasks[TAX].alert is not None
    # Only an approval comes back: a rejected or open task stays as it is.
    rejected = folded(
        (0, started()),
        (5, decided(outcome=approval_pb2.DECISION_OUTCOME_REJECTED, reason="r")),
        (8, returned),
    )
    assert rejected.tasks[TAX].state is TaskState.REJECTED


def test_added_and_removed_departments() -> None:
    added = approval_pb2.DepartmentAdded(
        application_code=CODE, department_code=FIRE, task_name="消防", reason="r", clock=clock(3)
    )
    removed = approval_pb2.DepartmentRemoved(
        application_code=CODE, department_code=TAX, reason="不涉及"
    )
    status = folded((0, accepted()), (0, started()), (2, added), (3, removed))
    assert status.tasks[FIRE].state is TaskState.STARTED
    assert status.tasks[FIRE].started_at == T0 + timedelta(hours=2)
    assert status.tasks[FIRE].committed_days == 3
    assert status.tasks[TAX].state is TaskState.CANCELLED and status.tasks[TAX].reason == "不涉及"


def test_an_approved_extension_moves_the_deadline_and_a_refused_one_nothing() -> None:
    later = T0 + timedelta(days=20)
    extension = approval_pb2.ExtensionDecided(
        application_code=CODE, department_code=TAX, approved=True, days=10, clock=clock(due=later)
    )
    status = folded((0, started()), (5, alert(level=3, raised=5)), (6, extension))
    assert status.tasks[TAX].due_at == later
    assert status.tasks[TAX].supervision_level is SupervisionLevel.NONE
    extension.approved = False
    extension.clock.due_at.CopyFrom(clock(due=T0 + timedelta(days=99)).due_at)
    refused = folded((0, started()), (6, extension))
    assert refused.tasks[TAX].due_at == T0 + timedelta(days=10)


def test_a_supplement_requests_list_is_missing_until_the_clocks_resume() -> None:
    request = decided(outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED, reason="不清晰")
    request.missing_materials.extend(["site-plan", "fire-design"])
    resumed = approval_pb2.ClocksResumed(
        application_code=CODE, department_codes=[TAX], materials=["site-plan", "fire-design"]
    )
    asked = folded((0, accepted()), (0, started()), (2, request))
    assert asked.missing_materials == ("site-plan", "fire-design")
    assert asked.tasks[TAX].paused
    back = folded((5, resumed), status=asked)
    assert back.missing_materials == () and back.missing_since is None
    task = back.tasks[TAX]
    assert task.state is TaskState.STARTED and not task.paused
    assert task.paused_seconds == 3 * 3600


LEGAL = supervision_pb2.SUPERVISION_LEVEL_LEGAL


def test_a_legal_alert_is_the_highest_level_and_tells_the_legal_deadline() -> None:
    legal_due = T0 + timedelta(days=15)
    status = folded((0, accepted()), (1, started()), (1, started(FIRE)))
    status = folded(
        (40, alert(level=3, raised=40)), (41, alert(FIRE, level=3, raised=41)), status=status
    )
    message = alert(level=LEGAL, raised=50)
    message.legal_due_at.CopyFrom(ts(legal_due))
    status = folded((50, message), status=status)
    task = status.tasks[TAX]
    assert task.supervision_level is SupervisionLevel.LEGAL
    assert (task.alert.legal_due_at if task.alert else None) == legal_due
    assert task.legal_due_at == legal_due
    assert status.supervision_level is SupervisionLevel.LEGAL  # above fire's red
    # A red alert raised before it, recorded late, does not bring it back to red.
    assert folded((51, alert(level=3, raised=45)), status=status).tasks[TAX] == task
    # The decision ends it, as it ends red.
    status = folded((60, decided()), status=status)
    assert status.tasks[TAX].open_level is SupervisionLevel.NONE
    assert status.supervision_level is SupervisionLevel.RED


def overrun(department: str = TAX, *, raised: float) -> supervision_pb2.SpecialProcedureOverrun:
    return supervision_pb2.SpecialProcedureOverrun(
        application_code=CODE,
        matter_code="business-startup",
        department_code=department,
        kind="hearing",
        max_days=20,
        day_kind="working",
        raised_at=ts(T0 + timedelta(hours=raised)),
    )


def test_a_special_procedure_overrun_is_kept_and_a_new_procedure_starts_without_it() -> None:
    status = folded((1, started()), (5, special()), (30, overrun(raised=30)))
    task = status.tasks[TAX]
    assert task.special_overrun_at == T0 + timedelta(hours=30)
    assert task.supervision_level is None and task.paused  # not a level of the clock
    status = folded((40, special(ended=True)), (50, special(kind="expert_review")), status=status)
    assert status.tasks[TAX].special_overrun_at is None
    # The first procedure's overrun recorded late (its own topic) belongs to it.
    assert folded((51, overrun(raised=30)), status=status).tasks == status.tasks
    # A finished task keeps what it was.
    done = folded((52, special(ended=True)), (53, decided()), status=status)
    assert folded((54, overrun(raised=54)), status=done).tasks == done.tasks


def test_a_revoked_elicence_is_recorded_once_and_changes_nothing_else() -> None:
    completed = fold(
        ApprovalStatus(application_code=CODE),
        approval_pb2.ApplicationCompleted(
            application_code=CODE, matter_code="household-transfer", elicence_number=f"EL-{CODE}"
        ),
        at=T0,
    )
    revoked_at = T0 + timedelta(days=30)

    def revocation(reason: str, at: datetime) -> approval_pb2.ELicenceRevoked:
        return approval_pb2.ELicenceRevoked(
            application_code=CODE, elicence_number=f"EL-{CODE}", reason=reason, revoked_at=ts(at)
        )

    revoked = fold(completed, revocation("obtained by deception", revoked_at), at=revoked_at)
    assert revoked.state is ApplicationState.COMPLETED
    assert (revoked.elicence_revoked_at, revoked.elicence_revocation_reason) == (
        revoked_at,
        "obtained by deception",
    )
    assert replace(revoked, elicence_revoked_at=None, elicence_revocation_reason="") == replace(
        completed, last_event_at=revoked_at
    )
    later = revoked_at + timedelta(days=1)
    assert fold(revoked, revocation("another", later), at=later).elicence_revocation_reason == (
        "obtained by deception"
    )
