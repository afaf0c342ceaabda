"""The JointApproval workflow: one per application, id = application code.

Deterministic orchestration only. Everything that reads the outside world (the
catalogue, the calendar, Kafka) is an activity, so its answer is kept in the history
and a replay sees the same matter and deadlines even after the data changed.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from google.protobuf.message import Message
    from google.protobuf.timestamp_pb2 import Timestamp

    from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2
    from onceonly.workflow.acceptance import AcceptanceOutcome, RequiredMaterial, assess
    from onceonly.workflow.event_ids import event_key, logical_event_id
    from onceonly.workflow.shared import (
        WORKFLOW_NAME,
        ApplicationInput,
        ApplicationResult,
        ApplicationSnapshot,
        ApplicationState,
        AssignmentInput,
        CalendarUpdate,
        CheckOutcome,
        ChecksRequest,
        ChecksResult,
        DeadlineRequest,
        DeadlineResult,
        DecisionInput,
        DecisionResult,
        ELicenceRequest,
        ELicenceResult,
        ErrorType,
        ExtendRequest,
        ExtendResult,
        MatterRequest,
        MatterSnapshot,
        Outcome,
        PublishBatch,
        PublishRequest,
        RecomputeRequest,
        SpecialProcedureInput,
        SpecialProcedureKind,
        SupervisionPolicy,
        SupplementInput,
        TaskActionResult,
        TaskSnapshot,
        TaskState,
        WithdrawalInput,
    )

T = TypeVar("T")

APPLICATION_CODE = SearchAttributeKey.for_keyword("ApplicationCode")
MATTER_CODE = SearchAttributeKey.for_keyword("MatterCode")
DEPARTMENTS = SearchAttributeKey.for_keyword_list("Departments")
INTEGRATOR_ID = SearchAttributeKey.for_keyword("IntegratorId")
SUPERVISION_LEVEL = SearchAttributeKey.for_keyword("SupervisionLevel")
DUE_TIME = SearchAttributeKey.for_datetime("DueTime")

_SHORT = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
    ),
)

_LOCAL = workflow.LocalActivityConfig(
    start_to_close_timeout=_SHORT["start_to_close_timeout"],
    retry_policy=_SHORT["retry_policy"],
)

# Our enums and the protobuf enums share member names, by design.
_ACCEPTANCE_OUTCOMES = {
    outcome: approval_pb2.AcceptanceOutcome.Value(f"ACCEPTANCE_OUTCOME_{outcome.name}")
    for outcome in AcceptanceOutcome
}
_DECISION_OUTCOMES = {
    outcome: approval_pb2.DecisionOutcome.Value(f"DECISION_OUTCOME_{outcome.name}")
    for outcome in Outcome
}
_CLOSED = {
    ApplicationState.COMPLETED,
    ApplicationState.REJECTED,
    ApplicationState.REFUSED,
    ApplicationState.WITHDRAWN,
}

# Versioning: e-supervision timers came after the first release. Histories recorded
# before it have no marker and replay without timers.
SUPERVISION_PATCH = "e-supervision-timers"
# Shared-data checks (数据共享) and auto-approval (秒批) came after the first release too.
SHARED_DATA_PATCH = "shared-data-checks"
AUTO_APPROVER = "auto-approval"
# Acceptance with deficiency (容缺受理) refuses the application when the deficient items
# have not arrived within their own deadline (rule 4).
DEFICIENCY_PATCH = "deficiency-deadline"
# Resolving the matter, the shared-data checks, the deadlines and event publishing run as
# local activities: in the worker, inside the workflow task, instead of a round trip
# through Temporal's task queues each (4 workflow tasks and 4 activity tasks before an
# application's acceptance reached Kafka). Histories from before replay them as
# regular activities.
LOCAL_ACTIVITIES_PATCH = "local-activities"


def _has_patch(patch: str) -> bool:
    """Whether this run has `patch`, one of those before LOCAL_ACTIVITIES_PATCH.

    A run begun with LOCAL_ACTIVITIES_PATCH has every earlier patch without asking (no
    marker of its own). Asking after a local activity is not safe: the time-skipping
    test server sometimes recorded the local activity's result in one workflow task and
    the code after it in the next, while replay runs that code in the first, before the
    later marker is known, so `patched` said False there (a replay test caught it).
    """
    return workflow.patched(LOCAL_ACTIVITIES_PATCH) or workflow.patched(patch)


# Publishing, second version. The acceptance, its tasks' starts and an auto-approval's
# decisions are published by one local activity instead of one each (every local
# activity's result is another activation of the workflow in the worker), and event ids
# come from the event's place in the application (event_ids.py), not from the run's
# random sequence. Runs from before publish one by one, with `workflow.uuid4()` ids.
PUBLISH_PATCH = "batched-publish-stable-ids"

# The e-licence became a record of its own (number, holder, validity) after the first
# release; earlier histories complete with the number alone.
ELICENCE_PATCH = "elicence-record"
SUPPLEMENT = "supplement"
SPECIAL = "special"
APPLICATION_CLOCK = ""  # the key of the application's overall clock
_LEVEL_ORDER = {"none": 0, "yellow": 1, "red": 2}
_LEVELS = {
    "none": supervision_pb2.SUPERVISION_LEVEL_NONE,
    "yellow": supervision_pb2.SUPERVISION_LEVEL_YELLOW,
    "red": supervision_pb2.SUPERVISION_LEVEL_RED,
}


@dataclass
class _Clock:
    """One clock under supervision: a department's task, or the whole application."""

    key: str
    committed_days: int
    started_at: str
    due_at: str
    yellow_at: str
    provisional: bool
    level: str = "none"
    escalations: int = 0
    paused_since: str = ""
    ended_pauses: list[tuple[str, str]] = field(default_factory=list)
    # Why the clock is stopped, e.g. {"fire:supplement", "fire:special"}: it runs again
    # once every cause has ended.
    holds: set[str] = field(default_factory=set)
    applied_pauses: list[list[str]] = field(default_factory=list)  # kept for recomputing
    version: int = 0


def _timestamp(iso: str) -> Timestamp:
    stamp = Timestamp()
    if iso:
        stamp.FromDatetime(datetime.fromisoformat(iso))
    return stamp


@workflow.defn(name=WORKFLOW_NAME)
class JointApproval:
    def __init__(self) -> None:
        self._input: ApplicationInput | None = None
        self._matter: MatterSnapshot | None = None
        self._state = ApplicationState.ACCEPTANCE
        self._tasks: dict[str, TaskSnapshot] = {}
        self._deciding: set[str] = set()
        self._provided: set[str] = set()
        self._missing: list[str] = []
        self._deficient: list[str] = []
        self._withdrawal: WithdrawalInput | None = None
        self._supplements = 0
        self._accepted_at = ""
        self._due_at = ""
        self._provisional = False
        self._elicence_number = ""
        self._clocks: dict[str, _Clock] = {}
        self._supervised = False
        self._closing = False
        self._checks: list[CheckOutcome] = []
        self._auto_approved = False
        self._deficiency_expired = False
        # Staff act on tasks only once their TaskStarted events are out, so that no
        # event about a task can precede its start on the topic.
        self._tasks_started = False
        # Events held back by `_hold_events` until `_release_events` publishes them.
        self._held: list[PublishRequest] | None = None
        self._publishing_v2 = False
        # Events published so far, by event_key: the occurrence in logical ids.
        self._published: dict[str, int] = {}
        self._calendar_updates = 0

    # -- the run ---------------------------------------------------------------------

    @workflow.run
    async def run(self, app: ApplicationInput) -> ApplicationResult:
        # Asked first, before any activity: the answers hold for the whole run.
        workflow.patched(LOCAL_ACTIVITIES_PATCH)
        self._publishing_v2 = workflow.patched(PUBLISH_PATCH)
        self._input = app
        self._provided = set(app.materials)
        matter = await self._activity(
            "resolve_matter", MatterRequest(app.matter_code), result_type=MatterSnapshot
        )
        self._matter = matter
        workflow.upsert_search_attributes(
            [
                SearchAttributePair(APPLICATION_CODE, app.application_code),
                SearchAttributePair(MATTER_CODE, matter.code),
                SearchAttributePair(DEPARTMENTS, [t.department_code for t in matter.tasks]),
                SearchAttributePair(INTEGRATOR_ID, app.integrator_id),
                SearchAttributePair(SUPERVISION_LEVEL, "none"),
            ]
        )

        if matter.shared_data_checks and _has_patch(SHARED_DATA_PATCH):
            checked = await self._activity(
                "run_shared_data_checks",
                ChecksRequest(
                    application_code=app.application_code,
                    applicant_kind=app.applicant_kind,
                    identifier_sealed=app.identifier_sealed,
                    checks=list(matter.shared_data_checks),
                    form_json=app.form_json,
                ),
                result_type=ChecksResult,
            )
            self._checks = checked.outcomes

        if not await self._accept(matter):
            return self._result()
        await self._start_tasks(matter)
        if self._auto_approved:
            await self._approve_automatically()
        supervisors = [
            asyncio.create_task(self._supervise(clock))
            for clock in (self._clocks.values() if self._supervised else ())
        ]
        if self._clocks:
            supervisors.append(asyncio.create_task(self._follow_calendar()))
        if self._deficient and _has_patch(DEFICIENCY_PATCH):
            supervisors.append(asyncio.create_task(self._watch_deficiency(matter)))
        await workflow.wait_condition(self._settled)
        # Supervisors see `_closing` and stop; one that is raising an alert finishes it.
        self._closing = True
        await asyncio.gather(*supervisors)
        await self._finish(matter)
        return self._result()

    async def _accept(self, matter: MatterSnapshot) -> bool:
        """Acceptance, waiting for supplements if needed; False if refused or withdrawn."""
        required = [
            RequiredMaterial(m.code, m.deficiency_tolerable, m.replaced_by_check)
            for m in matter.materials
        ]
        passed = {check.check for check in self._checks if check.passed}
        while True:
            assessment = assess(required, self._provided, passed_checks=passed)
            if assessment.outcome is not AcceptanceOutcome.SUPPLEMENT_REQUESTED:
                break
            self._state = ApplicationState.AWAITING_SUPPLEMENT
            self._missing = assessment.missing
            await self._publish_acceptance(assessment.outcome, missing=assessment.missing)
            try:
                await workflow.wait_condition(
                    self._supplement_or_withdrawal(self._supplements),
                    timeout=timedelta(days=matter.supplement_days),
                )
            except TimeoutError:
                self._state = ApplicationState.REFUSED
                await self._publish_acceptance(
                    AcceptanceOutcome.REFUSED,
                    missing=self._missing,
                    reason="补正材料逾期未提交 / supplement not provided in time",
                )
                return False
            if self._withdrawal is not None:
                await self._close_withdrawn()
                return False

        self._missing = []
        self._deficient = assessment.deficient
        self._accepted_at = workflow.now().isoformat()
        deadlines = await self._activity(
            "compute_deadlines",
            DeadlineRequest(
                accepted_at=self._accepted_at,
                day_kind=matter.day_kind,
                limits=[matter.committed_days] + [t.committed_days for t in matter.tasks],
                yellow_share=self._policy.yellow_share,
                yellow_days_left=self._policy.yellow_days_left,
            ),
            result_type=DeadlineResult,
        )
        self._due_at = deadlines.due_at[0]
        self._provisional = deadlines.provisional[0]
        self._supervised = _has_patch(SUPERVISION_PATCH)
        yellow_at = deadlines.yellow_at or deadlines.due_at  # older activity results
        keys = [APPLICATION_CLOCK] + [t.department_code for t in matter.tasks]
        limits = [matter.committed_days] + [t.committed_days for t in matter.tasks]
        for key, days, due, yellow, provisional in zip(
            keys, limits, deadlines.due_at, yellow_at, deadlines.provisional, strict=True
        ):
            self._clocks[key] = _Clock(key, days, self._accepted_at, due, yellow, provisional)
        for task, due_at, provisional in zip(
            matter.tasks, deadlines.due_at[1:], deadlines.provisional[1:], strict=True
        ):
            self._tasks[task.department_code] = TaskSnapshot(
                department_code=task.department_code,
                task_name=task.task_name,
                state=TaskState.OPEN,
                committed_days=task.committed_days,
                started_at=self._accepted_at,
                due_at=due_at,
                provisional=provisional,
            )
        workflow.upsert_search_attributes(
            [SearchAttributePair(DUE_TIME, datetime.fromisoformat(self._due_at))]
        )
        self._state = ApplicationState.IN_APPROVAL
        # 秒批: a complete application whose every shared-data check passed is decided
        # by the matter's rule, with no human step.
        self._auto_approved = (
            matter.auto_approval
            and bool(self._checks)
            and all(check.passed for check in self._checks)
            and assessment.outcome is AcceptanceOutcome.ACCEPTED
        )
        # Released with the tasks' starts, which always follow, and with an
        # auto-approval's decisions when there are any.
        self._hold_events()
        await self._publish_acceptance(assessment.outcome, missing=assessment.deficient)
        return True

    def _supplement_or_withdrawal(self, seen: int) -> Callable[[], bool]:
        return lambda: self._supplements > seen or self._withdrawal is not None

    async def _start_tasks(self, matter: MatterSnapshot) -> None:
        """Parallel approval: every department's task starts at once."""
        await asyncio.gather(
            *(
                self._publish(
                    approval_pb2.TaskStarted(
                        application_code=self._code,
                        department_code=task.department_code,
                        task_name=task.task_name,
                        clock=self._task_clock(task),
                        actor=self._system_actor(),
                    )
                )
                for task in self._tasks.values()
            )
        )
        if self._held is not None and self._auto_approved:
            return  # the decisions go out with the starts, `_approve_automatically`
        await self._release_events()
        self._tasks_started = True

    async def _approve_automatically(self) -> None:
        for task in self._tasks.values():
            await self._publish(
                approval_pb2.TaskDecided(
                    application_code=self._code,
                    department_code=task.department_code,
                    outcome=approval_pb2.DECISION_OUTCOME_APPROVED,
                    reason="共享数据核验全部通过, 自动审批 / all shared-data checks passed",
                    clock=self._task_clock(task),
                    actor=approval_pb2.Actor(kind="system", id=AUTO_APPROVER),
                )
            )
            task.state = TaskState.APPROVED
            task.decided_at = workflow.now().isoformat()
            task.decided_by = AUTO_APPROVER
        await self._release_events()
        self._tasks_started = True

    async def _watch_deficiency(self, matter: MatterSnapshot) -> None:
        try:
            await workflow.wait_condition(
                lambda: not self._deficient or self._closing,
                timeout=timedelta(days=matter.supplement_days),
            )
        except TimeoutError:
            self._deficiency_expired = True

    def _settled(self) -> bool:
        if self._deficiency_expired and not self._deciding:
            return True
        if self._withdrawal is not None or self._deciding:
            return self._withdrawal is not None and not self._deciding
        states = [task.state for task in self._tasks.values()]
        if TaskState.REJECTED in states:
            return True
        return all(state == TaskState.APPROVED for state in states) and not self._deficient

    async def _finish(self, matter: MatterSnapshot) -> None:
        if self._withdrawal is not None:
            await self._close_withdrawn()
            return
        if self._deficiency_expired and self._deficient:
            self._state = ApplicationState.REFUSED
            reason = "容缺材料逾期未补齐 / deficient materials not provided in time"
            await self._cancel_open_tasks(reason)
            await self._publish_acceptance(
                AcceptanceOutcome.REFUSED, missing=self._deficient, reason=reason
            )
            return
        rejected = next((t for t in self._tasks.values() if t.state == TaskState.REJECTED), None)
        if rejected is not None:
            self._state = ApplicationState.REJECTED
            await self._cancel_open_tasks(
                f"{rejected.department_code} 不予许可 / rejected by {rejected.department_code}"
            )
            await self._publish(
                approval_pb2.ApplicationRejected(
                    application_code=self._code,
                    matter_code=matter.code,
                    department_code=rejected.department_code,
                    reason=rejected.reason,
                    contact=self._contact(),
                    actor=self._system_actor(),
                )
            )
            return
        self._state = ApplicationState.COMPLETED
        # Deterministic, so a replay issues the same number.
        self._elicence_number = f"EL-{self._code}"
        completed = approval_pb2.ApplicationCompleted(
            application_code=self._code,
            matter_code=matter.code,
            elicence_number=self._elicence_number,
            elicence_type=matter.elicence_type,
            clock=self._application_clock(),
            contact=self._contact(),
            actor=self._system_actor(),
        )
        if matter.elicence_type and _has_patch(ELICENCE_PATCH):
            licence = await workflow.execute_activity(
                "issue_elicence",
                ELicenceRequest(
                    application_code=self._code,
                    matter_code=matter.code,
                    licence_type=matter.elicence_type,
                    holder_sealed=self._input.identifier_sealed if self._input else "",
                    issued_at=workflow.now().isoformat(),
                    valid_days=matter.elicence_valid_days,
                ),
                result_type=ELicenceResult,
                **_SHORT,
            )
            self._elicence_number = completed.elicence_number = licence.number
            completed.elicence_holder_masked = licence.holder_masked
            if licence.valid_until:
                completed.elicence_valid_until.CopyFrom(_timestamp(licence.valid_until))
        await self._publish(completed)

    async def _close_withdrawn(self) -> None:
        self._state = ApplicationState.WITHDRAWN
        reason = self._withdrawal.reason if self._withdrawal else ""
        await self._cancel_open_tasks(f"申请人撤回 / withdrawn by the applicant: {reason}".strip())
        await self._publish(
            approval_pb2.ApplicationWithdrawn(
                application_code=self._code,
                reason=reason,
                contact=self._contact(),
                actor=approval_pb2.Actor(kind="applicant", id=self._integrator),
            )
        )

    async def _cancel_open_tasks(self, reason: str) -> None:
        still_open = [
            task
            for task in self._tasks.values()
            if task.state in (TaskState.OPEN, TaskState.SUPPLEMENT_REQUESTED)
        ]
        for task in still_open:
            task.state = TaskState.CANCELLED
            task.reason = reason
        await asyncio.gather(
            *(
                self._publish(
                    approval_pb2.TaskCancelled(
                        application_code=self._code,
                        department_code=task.department_code,
                        reason=reason,
                        actor=self._system_actor(),
                    )
                )
                for task in still_open
            )
        )

    # -- messages from outside ---------------------------------------------------------

    @workflow.update(name="decide")
    async def decide(self, decision: DecisionInput) -> DecisionResult:
        task = self._tasks[decision.department_code]
        self._deciding.add(task.department_code)
        try:
            outcome = Outcome(decision.outcome)
            # The event goes out before the state changes, so the completion event that
            # the state change may trigger can never overtake it.
            await self._publish(
                approval_pb2.TaskDecided(
                    application_code=self._code,
                    department_code=task.department_code,
                    outcome=_DECISION_OUTCOMES[outcome],
                    reason=decision.reason,
                    clock=self._task_clock(task, paused=outcome is Outcome.SUPPLEMENT_REQUESTED),
                    actor=approval_pb2.Actor(
                        kind="staff",
                        id=decision.staff_id,
                        department_code=decision.staff_department,
                    ),
                    contact=self._contact() if self._tells_applicant(task, outcome) else None,
                )
            )
            task.state = TaskState(outcome.value)
            if outcome is Outcome.SUPPLEMENT_REQUESTED:
                self._hold(task.department_code, SUPPLEMENT)
            task.decided_at = workflow.now().isoformat()
            task.decided_by = decision.staff_id
            task.reason = decision.reason
        finally:
            self._deciding.discard(task.department_code)
        return DecisionResult(
            application_code=self._code,
            department_code=task.department_code,
            task_state=task.state,
            application_state=self._state,
        )

    def _tells_applicant(self, task: TaskSnapshot, outcome: Outcome) -> bool:
        """Whether the applicant hears of this decision by itself (notify sends only
        events that carry a contact): a supplement request always; an approval when
        the matter announces it and it is not the only task (the completion tells);
        never a rejection (the application's rejection tells, once)."""
        if outcome is Outcome.SUPPLEMENT_REQUESTED:
            return True
        if outcome is Outcome.REJECTED or self._matter is None or len(self._matter.tasks) < 2:
            return False
        spec = next(t for t in self._matter.tasks if t.department_code == task.department_code)
        return spec.notify_applicant

    @decide.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        task = self._task_for(decision.department_code, decision.staff_department)
        self._require_open(task)
        if task.special_procedure:
            raise ApplicationError(
                f"the task is in a special procedure ({task.special_procedure}); end it first",
                type=ErrorType.SPECIAL_PROCEDURE,
            )
        self._require_assignee(task, decision.staff_id, decision.staff_roles)
        try:
            outcome = Outcome(decision.outcome)
        except ValueError:
            raise ApplicationError(
                f"unknown outcome {decision.outcome!r}", type=ErrorType.INVALID_DECISION
            ) from None
        if outcome is Outcome.REJECTED and not decision.reason.strip():
            raise ApplicationError(
                "a rejection needs its legal reason", type=ErrorType.INVALID_DECISION
            )

    def _task_for(self, department_code: str, staff_department: str) -> TaskSnapshot:
        """The task a member of staff may act on, or the ApplicationError saying why not."""
        if self._state in _CLOSED or self._withdrawal is not None:
            raise ApplicationError(
                f"application {self._code} is {self._state}", type=ErrorType.APPLICATION_CLOSED
            )
        if staff_department != department_code:
            raise ApplicationError(
                "staff may act only on their own department's task",
                type=ErrorType.WRONG_DEPARTMENT,
            )
        task = self._tasks.get(department_code)
        if task is None:
            raise ApplicationError(
                f"no task of {department_code} in {self._code}", type=ErrorType.UNKNOWN_TASK
            )
        return task

    def _require_open(self, task: TaskSnapshot) -> None:
        if not self._tasks_started:
            raise ApplicationError(
                "the task is being started; retry in a moment", type=ErrorType.TASK_NOT_OPEN
            )
        if task.state != TaskState.OPEN or task.department_code in self._deciding:
            raise ApplicationError(
                f"the task of {task.department_code} is {task.state}, not open",
                type=ErrorType.TASK_NOT_OPEN,
            )

    @staticmethod
    def _require_assignee(task: TaskSnapshot, staff_id: str, roles: list[str]) -> None:
        if task.assignee and task.assignee != staff_id and "department_head" not in roles:
            raise ApplicationError(
                f"the task is assigned to {task.assignee}", type=ErrorType.WRONG_REVIEWER
            )

    @workflow.update(name="assign")
    async def assign(self, request: AssignmentInput) -> TaskActionResult:
        """A reviewer claims the task (assignee = self), or the head (re)assigns it."""
        task = self._tasks[request.department_code]
        task.assignee = request.assignee
        await self._publish(
            approval_pb2.TaskAssigned(
                application_code=self._code,
                department_code=task.department_code,
                assignee=request.assignee,
                actor=self._staff_actor(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @assign.validator
    def _validate_assignment(self, request: AssignmentInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        self._require_open(task)
        if not request.assignee.strip():
            raise ApplicationError("name the reviewer", type=ErrorType.INVALID_DECISION)
        if request.assignee != request.staff_id and "department_head" not in request.staff_roles:
            raise ApplicationError(
                "only the department head assigns a task to someone else",
                type=ErrorType.WRONG_REVIEWER,
            )
        self._require_assignee(task, request.staff_id, request.staff_roles)

    @workflow.update(name="start_special_procedure")
    async def start_special_procedure(self, request: SpecialProcedureInput) -> TaskActionResult:
        task = self._tasks[request.department_code]
        task.special_procedure = request.kind
        self._hold(task.department_code, SPECIAL)
        await self._publish(
            approval_pb2.SpecialProcedureStarted(
                application_code=self._code,
                department_code=task.department_code,
                kind=request.kind,
                note=request.note,
                clock=self._task_clock(task, paused=True),
                actor=self._staff_actor(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @start_special_procedure.validator
    def _validate_start_special(self, request: SpecialProcedureInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        self._require_open(task)
        self._require_assignee(task, request.staff_id, request.staff_roles)
        if task.special_procedure:
            raise ApplicationError(
                f"a special procedure ({task.special_procedure}) is already under way",
                type=ErrorType.SPECIAL_PROCEDURE,
            )
        if request.kind not in set(SpecialProcedureKind):
            raise ApplicationError(
                f"unknown special procedure {request.kind!r}", type=ErrorType.INVALID_DECISION
            )

    @workflow.update(name="end_special_procedure")
    async def end_special_procedure(self, request: SpecialProcedureInput) -> TaskActionResult:
        task = self._tasks[request.department_code]
        kind, task.special_procedure = task.special_procedure, ""
        self._release(SPECIAL, department_code=task.department_code)
        await self._publish(
            approval_pb2.SpecialProcedureEnded(
                application_code=self._code,
                department_code=task.department_code,
                kind=kind,
                note=request.note,
                clock=self._task_clock(task, paused=task.paused),
                actor=self._staff_actor(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @end_special_procedure.validator
    def _validate_end_special(self, request: SpecialProcedureInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        self._require_assignee(task, request.staff_id, request.staff_roles)
        if not task.special_procedure:
            raise ApplicationError(
                "no special procedure is under way", type=ErrorType.SPECIAL_PROCEDURE
            )

    def _task_result(self, task: TaskSnapshot) -> TaskActionResult:
        return TaskActionResult(
            application_code=self._code,
            department_code=task.department_code,
            task_state=task.state,
            assignee=task.assignee,
            special_procedure=task.special_procedure,
            paused=task.paused,
        )

    def _staff_actor(self, staff_id: str, department_code: str) -> approval_pb2.Actor:
        return approval_pb2.Actor(kind="staff", id=staff_id, department_code=department_code)

    @workflow.signal(name="withdraw")
    def withdraw(self, request: WithdrawalInput) -> None:
        if self._state not in _CLOSED and self._withdrawal is None:
            self._withdrawal = request

    @workflow.signal(name="supplement")
    def supplement(self, request: SupplementInput) -> None:
        if self._state in _CLOSED:
            return
        self._provided.update(request.materials)
        self._deficient = [code for code in self._deficient if code not in self._provided]
        self._supplements += 1
        for task in self._tasks.values():
            if task.state == TaskState.SUPPLEMENT_REQUESTED:
                task.state = TaskState.OPEN
        self._release(SUPPLEMENT)

    @workflow.query(name="snapshot")
    def snapshot(self) -> ApplicationSnapshot:
        return ApplicationSnapshot(
            application_code=self._code,
            matter_code=self._matter.code if self._matter else "",
            state=self._state,
            accepted_at=self._accepted_at,
            due_at=self._due_at,
            provisional=self._provisional,
            missing_materials=list(self._missing or self._deficient),
            # Tasks show once started: nobody acts on a task before its start is published.
            tasks=list(self._tasks.values()) if self._tasks_started else [],
            elicence_number=self._elicence_number,
            supervision_level=self._clock_level(APPLICATION_CLOCK),
        )

    # -- e-supervision (电子监察) ---------------------------------------------------------

    @property
    def _policy(self) -> SupervisionPolicy:
        return self._input.supervision if self._input else SupervisionPolicy()

    def _clock_level(self, key: str) -> str:
        clock = self._clocks.get(key)
        return clock.level if clock else "none"

    def _clock_over(self, clock: _Clock) -> bool:
        if self._closing:
            return True
        task = self._tasks.get(clock.key)
        return task is not None and task.state in (
            TaskState.APPROVED,
            TaskState.REJECTED,
            TaskState.CANCELLED,
        )

    def _changed(self, clock: _Clock, version: int) -> Callable[[], bool]:
        return lambda: (
            clock.version != version or bool(clock.paused_since) or self._clock_over(clock)
        )

    def _resumed(self, clock: _Clock) -> Callable[[], bool]:
        return lambda: not clock.paused_since or self._clock_over(clock)

    async def _supervise(self, clock: _Clock) -> None:
        """Durable timers for one clock: yellow, red, then escalation reminders."""
        while not self._clock_over(clock):
            if clock.ended_pauses:
                await self._apply_pauses(clock)
                continue
            if clock.paused_since:
                await workflow.wait_condition(self._resumed(clock))
                continue
            alert = self._next_alert(clock)
            if alert is None:
                return
            due, level, escalation = alert
            wait = due - workflow.now()
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(self._changed(clock, clock.version), timeout=wait)
                    continue  # paused, moved or decided before the alert was due
                except TimeoutError:
                    pass
            await self._raise_alert(clock, level, escalation)

    def _next_alert(self, clock: _Clock) -> tuple[datetime, str, int] | None:
        if clock.level == "none":
            return datetime.fromisoformat(clock.yellow_at), "yellow", 0
        due = datetime.fromisoformat(clock.due_at)
        if clock.level == "yellow":
            return due, "red", 0
        if clock.escalations >= self._policy.max_escalations:
            return None
        step = timedelta(hours=self._policy.escalation_hours)
        return due + step * (clock.escalations + 1), "red", clock.escalations + 1

    async def _raise_alert(self, clock: _Clock, level: str, escalation: int) -> None:
        clock.level = level
        clock.escalations = escalation
        clock.version += 1
        task = self._tasks.get(clock.key)
        if task is not None:
            task.supervision_level = level
        highest = max((c.level for c in self._clocks.values()), key=_LEVEL_ORDER.__getitem__)
        workflow.upsert_search_attributes([SearchAttributePair(SUPERVISION_LEVEL, highest)])
        left = datetime.fromisoformat(clock.due_at) - workflow.now()
        await self._publish(
            supervision_pb2.SupervisionAlert(
                application_code=self._code,
                matter_code=self._matter.code if self._matter else "",
                department_code=clock.key,
                level=_LEVELS[level],
                escalation=escalation,
                clock=self._clock_message(clock),
                seconds_left=int(left.total_seconds()),
                raised_at=_timestamp(workflow.now().isoformat()),
                actor=self._system_actor(),
            ),
            stream="supervision-alerts",
        )

    def _hold(self, department_code: str, reason: str) -> None:
        """Stop the task's clock and the application's, which waits on the task (rule 2:
        only the clocks that wait on the supplement or the special procedure)."""
        cause = f"{department_code}:{reason}"
        now = workflow.now().isoformat()
        for key in (department_code, APPLICATION_CLOCK):
            clock = self._clocks.get(key)
            if clock is None:
                continue
            if not clock.holds:
                clock.paused_since = now
                clock.version += 1
            clock.holds.add(cause)
        self._sync_paused()

    def _release(self, reason: str, *, department_code: str | None = None) -> None:
        """End every hold for `reason` (of one department, or of all); a clock with no
        hold left runs again and is later moved by the days it stood still."""
        now = workflow.now().isoformat()
        for clock in self._clocks.values():
            ended = {
                cause
                for cause in clock.holds
                if cause.endswith(f":{reason}")
                and (department_code is None or cause.startswith(f"{department_code}:"))
            }
            if not ended:
                continue
            clock.holds -= ended
            if not clock.holds and clock.paused_since:
                clock.ended_pauses.append((clock.paused_since, now))
                clock.paused_since = ""
                clock.version += 1
        self._sync_paused()

    def _sync_paused(self) -> None:
        for key, task in self._tasks.items():
            clock = self._clocks.get(key)
            task.paused = bool(clock and clock.holds)

    async def _apply_pauses(self, clock: _Clock) -> None:
        """Move the clock's deadlines by the days its pauses took (an activity: the
        calendar is data and must be read once, into the history)."""
        while clock.ended_pauses:
            paused_at, resumed_at = clock.ended_pauses.pop(0)
            moved = await workflow.execute_activity(
                "extend_deadline",
                ExtendRequest(
                    due_at=clock.due_at,
                    yellow_at=clock.yellow_at,
                    paused_at=paused_at,
                    resumed_at=resumed_at,
                    day_kind=self._matter.day_kind if self._matter else "working",
                ),
                result_type=ExtendResult,
                **_SHORT,
            )
            clock.due_at, clock.yellow_at = moved.due_at, moved.yellow_at
            clock.provisional = clock.provisional or moved.provisional
            clock.applied_pauses.append([paused_at, resumed_at])
            clock.version += 1
        self._show_clock(clock)

    def _show_clock(self, clock: _Clock) -> None:
        """Copy a clock's deadline to where it is read: its task, or the application."""
        task = self._tasks.get(clock.key)
        if task is not None:
            task.due_at, task.provisional = clock.due_at, clock.provisional
        elif clock.key == APPLICATION_CLOCK:
            self._due_at, self._provisional = clock.due_at, clock.provisional
            workflow.upsert_search_attributes(
                [SearchAttributePair(DUE_TIME, datetime.fromisoformat(self._due_at))]
            )

    def _calendar_changed(self, seen: int) -> Callable[[], bool]:
        return lambda: self._calendar_updates > seen or self._closing

    async def _follow_calendar(self) -> None:
        """Recompute provisional deadlines each time the calendar is updated."""
        seen = 0
        while True:
            await workflow.wait_condition(self._calendar_changed(seen))
            if self._closing:
                return
            seen = self._calendar_updates
            for clock in [c for c in self._clocks.values() if c.provisional]:
                if clock.paused_since or clock.ended_pauses or self._clock_over(clock):
                    continue  # moved again when its pause ends; or no longer watched
                fresh = await workflow.execute_activity(
                    "recompute_deadline",
                    RecomputeRequest(
                        accepted_at=clock.started_at,
                        days=clock.committed_days,
                        day_kind=self._matter.day_kind if self._matter else "working",
                        pauses=list(clock.applied_pauses),
                        yellow_share=self._policy.yellow_share,
                        yellow_days_left=self._policy.yellow_days_left,
                    ),
                    result_type=ExtendResult,
                    **_SHORT,
                )
                clock.due_at, clock.yellow_at = fresh.due_at, fresh.yellow_at
                clock.provisional = fresh.provisional
                clock.version += 1
                self._show_clock(clock)

    @workflow.signal(name="calendar_updated")
    def calendar_updated(self, update: CalendarUpdate) -> None:
        self._calendar_updates += 1

    def _clock_message(self, clock: _Clock) -> approval_pb2.Clock:
        return approval_pb2.Clock(
            committed_days=clock.committed_days,
            day_kind=self._matter.day_kind if self._matter else "",
            started_at=_timestamp(clock.started_at),
            due_at=_timestamp(clock.due_at),
            paused=bool(clock.paused_since),
            provisional=clock.provisional,
        )

    # -- helpers -------------------------------------------------------------------------

    @property
    def _code(self) -> str:
        return self._input.application_code if self._input else workflow.info().workflow_id

    @property
    def _integrator(self) -> str:
        return self._input.integrator_id if self._input else ""

    def _result(self) -> ApplicationResult:
        return ApplicationResult(self._code, self._state, self._elicence_number)

    def _system_actor(self) -> approval_pb2.Actor:
        return approval_pb2.Actor(kind="system", id="workflow")

    def _contact(self) -> application_pb2.Contact:
        contact = self._input.contact if self._input else None
        if contact is None:
            return application_pb2.Contact()
        return application_pb2.Contact(
            mobile=application_pb2.SealedText(
                sealed=contact.mobile_sealed, masked=contact.mobile_masked
            ),
            channels=list(contact.channels),
            language=contact.language,
        )

    def _application_clock(self) -> approval_pb2.Clock:
        matter = self._matter
        return approval_pb2.Clock(
            committed_days=matter.committed_days if matter else 0,
            day_kind=matter.day_kind if matter else "",
            started_at=_timestamp(self._accepted_at),
            due_at=_timestamp(self._due_at),
            provisional=self._provisional,
        )

    def _task_clock(self, task: TaskSnapshot, *, paused: bool = False) -> approval_pb2.Clock:
        return approval_pb2.Clock(
            committed_days=task.committed_days,
            day_kind=self._matter.day_kind if self._matter else "",
            started_at=_timestamp(task.started_at),
            due_at=_timestamp(task.due_at),
            paused=paused,
            provisional=task.provisional,
        )

    async def _publish_acceptance(
        self, outcome: AcceptanceOutcome, *, missing: list[str], reason: str = ""
    ) -> None:
        await self._publish(
            approval_pb2.ApplicationAccepted(
                application_code=self._code,
                matter_code=self._matter.code if self._matter else "",
                outcome=_ACCEPTANCE_OUTCOMES[outcome],
                missing_materials=missing,
                reason=reason,
                clock=self._application_clock(),
                contact=self._contact(),
                actor=self._system_actor(),
                checks=[
                    approval_pb2.CheckOutcome(
                        check=c.check, passed=c.passed, reason=c.reason, reason_zh=c.reason_zh
                    )
                    for c in self._checks
                ],
                auto_approved=self._auto_approved,
            )
        )

    async def _publish(self, message: Message, stream: str = "approval-events") -> None:
        # The id is the same when the activity runs again, so the copy is dropped
        # downstream as a duplicate; workflow.uuid4() before PUBLISH_PATCH.
        request = PublishRequest(
            stream=stream,
            event_id=self._event_id(message),
            application_code=self._code,
            ce_type=message.DESCRIPTOR.full_name,
            data_b64=base64.b64encode(message.SerializeToString(deterministic=True)).decode(),
            time=workflow.now().isoformat(),
        )
        if self._held is not None:
            self._held.append(request)
            return
        await self._activity("publish_event", request)

    def _event_id(self, message: Message) -> str:
        if not self._publishing_v2:
            return str(workflow.uuid4())
        key = event_key(message.DESCRIPTOR.full_name, getattr(message, "department_code", ""))
        self._published[key] = occurrence = self._published.get(key, 0) + 1
        return logical_event_id(self._code, key, occurrence)

    def _hold_events(self) -> None:
        """Hold back the events published from here on until `_release_events` (since
        PUBLISH_PATCH; before it, each is published at once)."""
        if self._publishing_v2:
            self._held = []

    async def _release_events(self) -> None:
        """Publish the held events, in order, in one activity."""
        held, self._held = self._held, None
        if held:
            await self._activity("publish_events", PublishBatch(held))

    async def _activity(self, name: str, arg: Any, *, result_type: type[T] | None = None) -> T:
        """A short activity (a read, a computation, a publish): local since
        LOCAL_ACTIVITIES_PATCH, a regular activity in the histories from before it.
        Each of these is safe to run again (reads, pure, or published under the same
        event id), as a local activity may be when its workflow task is retried."""
        if workflow.patched(LOCAL_ACTIVITIES_PATCH):  # memoized: asked first in `run`
            return await workflow.execute_local_activity(
                name, arg, result_type=result_type, **_LOCAL
            )
        return await workflow.execute_activity(name, arg, result_type=result_type, **_SHORT)
