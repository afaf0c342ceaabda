"""The JointApproval workflow: one per application, id = application code.

The story of an application: resolve its matter, check shared data, accept it
(waiting for supplements), start every department's task in parallel, supervise the
clocks, settle when every task is decided (or one rejects, or the applicant withdraws),
finish. Deterministic orchestration only: the rules live in pure modules (acceptance,
department_tasks, supervision_clock, approval_events), the outside world in activities,
whose answers are kept in the history so a replay sees the same matter and deadlines
even after the data changed. Versions are in patches.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from onceonly.workflow import department_tasks as rules
    from onceonly.workflow.acceptance import AcceptanceOutcome, RequiredMaterial, assess
    from onceonly.workflow.approval_events import (
        AUTO_APPROVER,
        Actor,
        ActorKind,
        ApplicationAccepted,
        ApplicationCompleted,
        ApplicationRejected,
        ApplicationWithdrawn,
        Clock,
        ClocksResumed,
        DepartmentAdded,
        DepartmentRemoved,
        ExtensionDecided,
        ExtensionRequested,
        SpecialProcedureEnded,
        SpecialProcedureStarted,
        TaskAssigned,
        TaskCancelled,
        TaskDecided,
        TaskReturned,
        TaskStarted,
        staff,
    )
    from onceonly.workflow.department_tasks import CLOSED, Task
    from onceonly.workflow.patches import (
        BASELINE_PATCH,
        CLOCKS_RESUMED_PATCH,
        CONSENT_PATCH,
        DEFICIENCY_PATCH,
        ELICENCE_PATCH,
        JURISDICTIONS_PATCH,
        LEGAL_LIMIT_PATCH,
        LOCAL_ACTIVITIES_PATCH,
        LOCAL_ELICENCE_PATCH,
        PUBLISH_PATCH,
        SHARED_DATA_PATCH,
        SUPERVISION_CASES_PATCH,
        SUPERVISION_PATCH,
        has_patch,
        run_activity,
        run_local,
        run_short,
        since,
    )
    from onceonly.workflow.publisher import EventPublisher
    from onceonly.workflow.shared import (
        WORKFLOW_NAME,
        AcceptanceReviewInput,
        AcceptanceReviewResult,
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
        DepartmentChangeInput,
        ELicenceRequest,
        ELicenceResult,
        ErrorType,
        ExtensionDecisionInput,
        ExtensionRequestInput,
        JointInspectionInput,
        JointInspectionResult,
        MatterRequest,
        MatterSnapshot,
        Outcome,
        ReturnInput,
        SpecialProcedureInput,
        SpecialProcedureKind,
        SupplementInput,
        TaskActionResult,
        TaskListUpdate,
        TaskState,
        WithdrawalInput,
    )
    from onceonly.workflow.supervision import DUE_TIME, SUPERVISION_LEVEL, Supervision
    from onceonly.workflow.supervision_clock import APPLICATION_CLOCK, HoldCause, SupervisionClock

APPLICATION_CODE = SearchAttributeKey.for_keyword("ApplicationCode")
MATTER_CODE = SearchAttributeKey.for_keyword("MatterCode")
DEPARTMENTS = SearchAttributeKey.for_keyword_list("Departments")
INTEGRATOR_ID = SearchAttributeKey.for_keyword("IntegratorId")
# 行政区划: the division that decides the application (since JURISDICTIONS_PATCH).
COMPETENT_REGION = SearchAttributeKey.for_keyword("CompetentRegion")

AUTO_APPROVED_REASON = "共享数据核验全部通过, 自动审批 / all shared-data checks passed"


@workflow.defn(name=WORKFLOW_NAME)
class JointApproval:
    @workflow.init
    def __init__(self, app: ApplicationInput) -> None:
        self._app = app
        self._code = app.application_code
        self._matter: MatterSnapshot | None = None  # resolved first thing in `run`
        self._state = ApplicationState.ACCEPTANCE
        self._tasks: dict[str, Task] = {}
        self._deciding: set[str] = set()
        self._provided = set(app.materials)
        self._missing: list[str] = []
        self._deficient: list[str] = []
        self._withdrawal: WithdrawalInput | None = None
        # 受理审查: what window staff said, and whether they still may (until acceptance).
        self._window_open = True
        self._review: AcceptanceReviewInput | None = None
        self._supplements = 0
        self._accepted_at: datetime | None = None
        self._elicence_number = ""
        self._checks: list[CheckOutcome] = []
        self._checks_without_consent: list[str] = []
        self._rule_version = ""
        self._consent_gated = False  # CONSENT_PATCH, asked at the start of `run`
        self._local_elicence = False  # LOCAL_ELICENCE_PATCH, likewise
        self._auto_approved = False
        self._deficiency_expired = False
        self._closing = False
        # Staff act on tasks only once their TaskStarted events are out, so that no
        # event about a task can precede its start on the topic.
        self._tasks_started = False
        # The batch with the tasks' starts is being published: the task list may show them
        # (its rows are written after the batch is out).
        self._starts_released = False
        self._supervised = False
        self._background: list[asyncio.Task[None]] = []  # events published from signals
        self._publisher = EventPublisher(self._code)
        self._publisher.task_list = self._task_list
        self._supervision = Supervision(
            policy=app.supervision,
            tasks=self._tasks,
            publisher=self._publisher,
            closing=lambda: self._closing,
        )

    # -- the story ---------------------------------------------------------------------

    @workflow.run
    async def run(self, app: ApplicationInput) -> ApplicationResult:
        # Asked first, before any activity: the answers hold for the whole run. A run
        # begun with BASELINE_PATCH asks none of the others (`since`).
        workflow.patched(BASELINE_PATCH)
        since(LOCAL_ACTIVITIES_PATCH)
        self._publisher.stable_ids = since(PUBLISH_PATCH)
        self._supervision.legal = since(LEGAL_LIMIT_PATCH)
        self._consent_gated = since(CONSENT_PATCH)
        self._supervision.cases = since(SUPERVISION_CASES_PATCH)
        self._local_elicence = since(LOCAL_ELICENCE_PATCH)
        matter = await self._resolve()
        await self._check_shared_data(matter)
        if not await self._accept(matter):
            return self._result()
        await self._start_tasks()
        if self._auto_approved:
            await self._approve_automatically()
        watchers = self._watch(matter)
        await workflow.wait_condition(self._settled)
        # Watchers see `_closing` and stop; one that is raising an alert finishes it.
        self._closing = True
        await asyncio.gather(*self._supervision.watchers, *watchers, *self._background)
        await self._finish(matter)
        return self._result()

    async def _resolve(self) -> MatterSnapshot:
        """The catalogue entry as it is now, kept in the history for the whole run."""
        region = self._app.competent_region if since(JURISDICTIONS_PATCH) else ""
        matter = await run_short(
            "resolve_matter",
            MatterRequest(self._app.matter_code, region=region),
            result_type=MatterSnapshot,
        )
        self._matter = matter
        self._supervision.resolve(matter.code, matter.day_kind)
        workflow.upsert_search_attributes(
            [
                SearchAttributePair(APPLICATION_CODE, self._code),
                SearchAttributePair(MATTER_CODE, matter.code),
                SearchAttributePair(DEPARTMENTS, [t.department_code for t in matter.tasks]),
                SearchAttributePair(INTEGRATOR_ID, self._app.integrator_id),
                SearchAttributePair(SUPERVISION_LEVEL, "none"),
                # The department API scopes its staff by it (one description, no query).
                *([SearchAttributePair(COMPETENT_REGION, region)] if region else []),
            ]
        )
        return matter

    async def _check_shared_data(self, matter: MatterSnapshot) -> None:
        """数据共享: facts from the base registries replace paper where they pass."""
        if not matter.shared_data_checks or not has_patch(SHARED_DATA_PATCH):
            return
        checks = list(matter.shared_data_checks)
        consents = {consent.purpose: consent.reference for consent in self._app.consents}
        if self._consent_gated:
            # 授权: only with the applicant's consent; the others' paper is asked for.
            self._checks_without_consent = [c for c in checks if c not in consents]
            checks = [c for c in checks if c in consents]
            if not checks:
                return
        checked = await run_short(
            "run_shared_data_checks",
            ChecksRequest(
                application_code=self._code,
                applicant_kind=self._app.applicant_kind,
                identifier_sealed=self._app.identifier_sealed,
                checks=checks,
                form_json=self._app.form_json,
            ),
            result_type=ChecksResult,
        )
        self._checks = checked.outcomes
        if self._consent_gated:
            self._rule_version = checked.rule_version
            for outcome in self._checks:
                outcome.consent_reference = consents.get(outcome.check, "")

    async def _accept(self, matter: MatterSnapshot) -> bool:
        """Acceptance, waiting for supplements if needed; False if refused or withdrawn."""
        required = [
            RequiredMaterial(m.code, m.deficiency_tolerable, m.replaced_by_check)
            for m in matter.materials
        ]
        passed = {check.check for check in self._checks if check.passed}
        while True:
            if self._review is not None and not self._review.accept:
                return await self._refuse_by_window()  # before the assessment or instead of waiting
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

        if matter.acceptance_review_days and not await self._reviewed(matter):
            return False
        self._window_open = False
        self._missing = []
        self._deficient = assessment.deficient
        await self._start_clocks(matter)
        self._state = ApplicationState.IN_APPROVAL
        # 秒批: a complete application whose every shared-data check passed is decided
        # by the matter's rule, with no human step.
        self._auto_approved = (
            matter.auto_approval
            and bool(self._checks)
            and all(check.passed for check in self._checks)
            and not self._checks_without_consent  # every condition confirmed, or people decide
            and assessment.outcome is AcceptanceOutcome.ACCEPTED
        )
        # Released with the tasks' starts, which always follow, and with an
        # auto-approval's decisions when there are any.
        self._publisher.hold()
        await self._publish_acceptance(assessment.outcome, missing=assessment.deficient)
        return True

    async def _start_clocks(self, matter: MatterSnapshot) -> None:
        """The application's clock and one per task, from acceptance."""
        self._accepted_at = accepted_at = workflow.now()
        policy = self._app.supervision
        limits = [matter.committed_days] + [t.committed_days for t in matter.tasks]
        deadlines = await run_short(
            "compute_deadlines",
            DeadlineRequest(
                accepted_at=accepted_at,
                day_kind=matter.day_kind,
                limits=limits,
                yellow_share=policy.yellow_share,
                yellow_days_left=policy.yellow_days_left,
            ),
            result_type=DeadlineResult,
        )
        # Asked here, right after the deadlines, where histories from before
        # LOCAL_ACTIVITIES_PATCH have its marker.
        self._supervised = has_patch(SUPERVISION_PATCH)
        yellow_at = deadlines.yellow_at or deadlines.due_at  # older activity results
        keys = [APPLICATION_CLOCK] + [t.department_code for t in matter.tasks]
        for key, days, due, yellow, provisional in zip(
            keys, limits, deadlines.due_at, yellow_at, deadlines.provisional, strict=True
        ):
            self._supervision.clocks[key] = SupervisionClock(
                key, days, accepted_at, due, yellow, provisional
            )
        for spec, due, provisional in zip(
            matter.tasks, deadlines.due_at[1:], deadlines.provisional[1:], strict=True
        ):
            self._tasks[spec.department_code] = Task(
                department_code=spec.department_code,
                task_name=spec.task_name,
                committed_days=spec.committed_days,
                started_at=accepted_at,
                due_at=due,
                provisional=provisional,
                notify_applicant=spec.notify_applicant,
            )
        workflow.upsert_search_attributes([SearchAttributePair(DUE_TIME, deadlines.due_at[0])])
        await self._supervision.limit_by_law(matter)

    def _supplement_or_withdrawal(self, seen: int) -> Callable[[], bool]:
        return lambda: (
            self._supplements > seen or self._withdrawal is not None or self._review is not None
        )

    async def _reviewed(self, matter: MatterSnapshot) -> bool:
        """受理审查: the window accepts or refuses within its working days; unanswered,
        the application counts as accepted (Administrative Licensing Law art. 32). Only
        matters whose recorded snapshot asks for a review wait here."""
        now = workflow.now()
        deadline = await run_short(
            "compute_deadlines",
            DeadlineRequest(
                accepted_at=now, day_kind="working", limits=[matter.acceptance_review_days]
            ),
            result_type=DeadlineResult,
        )
        # Unanswered by the deadline: deemed accepted.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._review is not None or self._withdrawal is not None,
                timeout=max(deadline.due_at[0] - now, timedelta(seconds=1)),
            )
        self._window_open = False  # a late answer must not be taken as given
        if self._withdrawal is not None:
            await self._close_withdrawn()
            return False
        if self._review is not None and not self._review.accept:
            return await self._refuse_by_window()
        return True

    async def _refuse_by_window(self) -> bool:
        """不予受理决定: the written decision goes to the applicant; the run ends."""
        review = self._review
        assert review is not None
        self._state = ApplicationState.REFUSED
        await self._publisher.publish(
            ApplicationAccepted(
                matter_code=self._app.matter_code,
                outcome=AcceptanceOutcome.REFUSED,
                missing_materials=list(self._missing),
                reason=review.reason,
                clock=self._application_clock(),
                contact=self._app.contact,
                actor=staff(review.staff_id, review.staff_department),
                decision_number=self._refusal_number(),
                legal_basis=review.legal_basis,
                appeal_route=review.appeal_route,  # empty: the law's route, told by notify
            )
        )
        return False

    def _refusal_number(self) -> str:
        # Deterministic, so a replay writes the same decision number.
        return f"BYSL-{self._code}"

    async def _start_tasks(self) -> None:
        """Parallel approval: every department's task starts at once."""
        await asyncio.gather(
            *(
                self._publisher.publish(
                    TaskStarted(
                        department_code=task.department_code,
                        task_name=task.task_name,
                        clock=self._task_clock(task),
                    )
                )
                for task in self._tasks.values()
            )
        )
        if self._publisher.holding and self._auto_approved:
            return  # the decisions go out with the starts, `_approve_automatically`
        self._starts_released = True
        await self._publisher.release()
        self._tasks_started = True

    async def _approve_automatically(self) -> None:
        for task in self._tasks.values():
            await self._publisher.publish(
                TaskDecided(
                    department_code=task.department_code,
                    outcome=Outcome.APPROVED,
                    reason=AUTO_APPROVED_REASON,
                    clock=self._task_clock(task),
                    actor=Actor(ActorKind.SYSTEM, AUTO_APPROVER),
                )
            )
            task.decide(Outcome.APPROVED, AUTO_APPROVER, "", workflow.now())
        self._starts_released = True
        await self._publisher.release()
        self._tasks_started = True

    def _watch(self, matter: MatterSnapshot) -> list[asyncio.Task[None]]:
        """The clocks' timers, the calendar, and the deficient materials' deadline."""
        clocks = self._supervision.clocks
        self._supervision.supervised = self._supervised
        for clock in clocks.values():
            self._supervision.watch(clock)
        watchers = []
        if clocks:
            watchers.append(asyncio.create_task(self._supervision.follow_calendar()))
        if self._deficient and has_patch(DEFICIENCY_PATCH):
            watchers.append(asyncio.create_task(self._watch_deficiency(matter)))
        return watchers

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
        states = [task.state for task in self._tasks.values() if not task.removed]
        if TaskState.REJECTED in states:
            return True
        return all(state == TaskState.APPROVED for state in states) and not self._deficient

    async def _finish(self, matter: MatterSnapshot) -> None:
        if self._withdrawal is not None:
            await self._close_withdrawn()
        elif self._deficiency_expired and self._deficient:
            await self._refuse_deficient()
        elif (rejected := self._rejected_task()) is not None:
            await self._close_rejected(matter, rejected)
        else:
            await self._complete(matter)

    def _rejected_task(self) -> Task | None:
        return next((t for t in self._tasks.values() if t.state == TaskState.REJECTED), None)

    async def _refuse_deficient(self) -> None:
        self._state = ApplicationState.REFUSED
        reason = "容缺材料逾期未补齐 / deficient materials not provided in time"
        await self._cancel_open_tasks(reason)
        await self._publish_acceptance(
            AcceptanceOutcome.REFUSED, missing=self._deficient, reason=reason
        )

    async def _close_rejected(self, matter: MatterSnapshot, rejected: Task) -> None:
        self._state = ApplicationState.REJECTED
        department = rejected.department_code
        await self._cancel_open_tasks(f"{department} 不予许可 / rejected by {department}")
        await self._publisher.publish(
            ApplicationRejected(
                matter_code=matter.code,
                department_code=department,
                reason=rejected.reason,
                contact=self._app.contact,
            )
        )

    async def _complete(self, matter: MatterSnapshot) -> None:
        self._state = ApplicationState.COMPLETED
        # Deterministic, so a replay issues the same number.
        self._elicence_number = f"EL-{self._code}"
        holder_masked = ""
        valid_until: datetime | None = None
        if matter.elicence_type and has_patch(ELICENCE_PATCH):
            issue = run_local if self._local_elicence else run_activity
            licence = await issue(
                "issue_elicence",
                ELicenceRequest(
                    application_code=self._code,
                    matter_code=matter.code,
                    licence_type=matter.elicence_type,
                    holder_sealed=self._app.identifier_sealed,
                    issued_at=workflow.now(),
                    valid_days=matter.elicence_valid_days,
                ),
                result_type=ELicenceResult,
            )
            self._elicence_number = licence.number
            holder_masked = licence.holder_masked
            if licence.valid_until:
                valid_until = datetime.fromisoformat(licence.valid_until)
        await self._publisher.publish(
            ApplicationCompleted(
                matter_code=matter.code,
                elicence_number=self._elicence_number,
                elicence_type=matter.elicence_type,
                clock=self._application_clock(),
                contact=self._app.contact,
                elicence_valid_until=valid_until,
                elicence_holder_masked=holder_masked,
            )
        )

    async def _close_withdrawn(self) -> None:
        self._state = ApplicationState.WITHDRAWN
        reason = self._withdrawal.reason if self._withdrawal else ""
        await self._cancel_open_tasks(f"申请人撤回 / withdrawn by the applicant: {reason}".strip())
        await self._publisher.publish(
            ApplicationWithdrawn(
                reason=reason,
                contact=self._app.contact,
                actor=Actor(ActorKind.APPLICANT, self._app.integrator_id),
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
                self._publisher.publish(TaskCancelled(task.department_code, reason))
                for task in still_open
            )
        )

    # -- department staff (updates: validated first, so a refusal changes nothing) -------

    @workflow.update(name="decide")
    async def decide(self, decision: DecisionInput) -> DecisionResult:
        task = self._tasks[decision.department_code]
        self._deciding.add(task.department_code)
        try:
            outcome = Outcome(decision.outcome)
            supplement = outcome is Outcome.SUPPLEMENT_REQUESTED
            tasks_in_matter = len(self._matter.tasks) if self._matter else 0
            tells = rules.tells_applicant(task, outcome, tasks_in_matter)
            # The event goes out before the state changes, so the completion event that
            # the state change may trigger can never overtake it.
            await self._publisher.publish(
                TaskDecided(
                    department_code=task.department_code,
                    outcome=outcome,
                    reason=decision.reason,
                    clock=self._task_clock(task, paused=supplement),
                    actor=staff(decision.staff_id, decision.staff_department),
                    contact=self._app.contact if tells else None,
                    missing_materials=list(decision.missing_materials) if supplement else [],
                    supplement_due_at=self._supplement_due() if supplement else None,
                )
            )
            task.decide(outcome, decision.staff_id, decision.reason, workflow.now())
            if supplement:
                self._supervision.hold(task.department_code, HoldCause.SUPPLEMENT)
        finally:
            self._deciding.discard(task.department_code)
        return DecisionResult(
            application_code=self._code,
            department_code=task.department_code,
            task_state=task.state,
            application_state=self._state,
        )

    @decide.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        task = self._task_for(decision.department_code, decision.staff_department)
        self._require_open(task)
        rules.require_no_special_procedure(task)
        rules.require_assignee(task, decision.staff_id, decision.staff_roles)
        rules.check_decision(decision.outcome, decision.reason, decision.missing_materials)

    @workflow.update(name="assign")
    async def assign(self, request: AssignmentInput) -> TaskActionResult:
        """A reviewer claims the task (assignee = self), or the head (re)assigns it."""
        task = self._tasks[request.department_code]
        task.assignee = request.assignee
        await self._publisher.publish(
            TaskAssigned(
                department_code=task.department_code,
                assignee=request.assignee,
                actor=staff(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @assign.validator
    def _validate_assignment(self, request: AssignmentInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        self._require_open(task)
        rules.check_assignment(request.staff_id, request.staff_roles, request.assignee)
        rules.require_assignee(task, request.staff_id, request.staff_roles)

    @workflow.update(name="start_special_procedure")
    async def start_special_procedure(self, request: SpecialProcedureInput) -> TaskActionResult:
        task = self._tasks[request.department_code]
        task.special_procedure = request.kind
        self._supervision.hold(task.department_code, HoldCause.SPECIAL_PROCEDURE)
        self._supervision.watch_special(task.department_code, request.kind)
        await self._publisher.publish(
            SpecialProcedureStarted(
                department_code=task.department_code,
                kind=request.kind,
                note=request.note,
                clock=self._task_clock(task, paused=True),
                actor=staff(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @start_special_procedure.validator
    def _validate_start_special(self, request: SpecialProcedureInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        self._require_open(task)
        rules.require_assignee(task, request.staff_id, request.staff_roles)
        rules.check_special_start(task, request.kind)

    @workflow.update(name="end_special_procedure")
    async def end_special_procedure(self, request: SpecialProcedureInput) -> TaskActionResult:
        task = self._tasks[request.department_code]
        kind, task.special_procedure = task.special_procedure, ""
        task.joint_inspection = False
        self._supervision.release(HoldCause.SPECIAL_PROCEDURE, department_code=task.department_code)
        await self._publisher.publish(
            SpecialProcedureEnded(
                department_code=task.department_code,
                kind=kind,
                note=request.note,
                clock=self._task_clock(task, paused=task.paused),
                actor=staff(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @end_special_procedure.validator
    def _validate_end_special(self, request: SpecialProcedureInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        rules.require_assignee(task, request.staff_id, request.staff_roles)
        rules.check_special_end(task, request.note)

    def _task_for(self, department_code: str, staff_department: str) -> Task:
        return rules.task_for(
            self._tasks,
            self._state,
            withdrawn=self._withdrawal is not None or self._closing,
            application_code=self._code,
            department_code=department_code,
            staff_department=staff_department,
        )

    def _require_open(self, task: Task) -> None:
        rules.require_open(task, started=self._tasks_started, deciding=self._deciding)

    def _task_result(self, task: Task) -> TaskActionResult:
        return TaskActionResult(
            application_code=self._code,
            department_code=task.department_code,
            task_state=task.state,
            assignee=task.assignee,
            special_procedure=task.special_procedure,
            paused=task.paused,
        )

    # -- the lead department (牵头部门) and extensions (延期) ------------------------------

    @property
    def _lead(self) -> str:
        return self._matter.lead_department if self._matter else ""

    @workflow.update(name="return_decision")
    async def return_decision(self, request: ReturnInput) -> TaskActionResult:
        """退回重审: the task opens again; its clock continues from the time it had spent."""
        task = self._tasks[request.department_code]
        key = f"return:{task.department_code}"
        if key in self._deciding or task.state != TaskState.APPROVED:
            return self._task_result(task)  # a concurrent return of the same task won
        self._deciding.add(key)
        try:
            previous = Outcome(task.state.value)
            decided_at = task.decided_at or workflow.now()
            task.reopen()
            clock = self._supervision.clocks.get(task.department_code)
            if clock is not None:
                clock.resume_after(decided_at, workflow.now())
                self._supervision.watch(clock)
            await self._publisher.publish(
                TaskReturned(
                    department_code=task.department_code,
                    reason=request.reason,
                    clock=self._task_clock(task),
                    actor=staff(request.staff_id, request.staff_department),
                    previous_outcome=previous,
                )
            )
        finally:
            self._deciding.discard(key)
        return self._task_result(task)

    @return_decision.validator
    def _validate_return(self, request: ReturnInput) -> None:
        self._require_running()
        rules.require_lead(self._lead, request.staff_department, ())
        rules.require_reason(request.reason)
        task = self._tasks.get(request.department_code)
        if task is None:
            raise ApplicationError(
                f"no task of {request.department_code} in {self._code}",
                type=ErrorType.UNKNOWN_TASK,
            )
        rules.check_return(task, self._lead, self._deciding_returns())

    def _deciding_returns(self) -> set[str]:
        return {key.removeprefix("return:") for key in self._deciding if key.startswith("return:")}

    @workflow.update(name="add_department")
    async def add_department(self, request: DepartmentChangeInput) -> TaskActionResult:
        """加签: a task of its own, with its own limit and clock from now."""
        matter = self._matter
        assert matter is not None  # the validator refuses before the tasks started
        department = request.department_code
        key = f"add:{department}"
        self._deciding.add(key)
        try:
            days = request.committed_days or matter.committed_days
            now = workflow.now()
            policy = self._app.supervision
            deadlines = await run_short(
                "compute_deadlines",
                DeadlineRequest(
                    accepted_at=now,
                    day_kind=matter.day_kind,
                    limits=[days],
                    yellow_share=policy.yellow_share,
                    yellow_days_left=policy.yellow_days_left,
                ),
                result_type=DeadlineResult,
            )
            due, provisional = deadlines.due_at[0], deadlines.provisional[0]
            yellow = (deadlines.yellow_at or deadlines.due_at)[0]
            task = Task(
                department_code=department,
                task_name=request.task_name or f"加签 / added: {department}",
                committed_days=days,
                started_at=now,
                due_at=due,
                provisional=provisional,
            )
            await self._publisher.publish(
                DepartmentAdded(
                    department_code=department,
                    task_name=task.task_name,
                    reason=request.reason,
                    clock=self._task_clock(task),
                    actor=staff(request.staff_id, request.staff_department),
                )
            )
            self._tasks[department] = task
            clock = SupervisionClock(department, days, now, due, yellow, provisional)
            self._supervision.clocks[department] = clock
            self._supervision.watch(clock)
            workflow.upsert_search_attributes([SearchAttributePair(DEPARTMENTS, list(self._tasks))])
        finally:
            self._deciding.discard(key)
        return self._task_result(task)

    @add_department.validator
    def _validate_add(self, request: DepartmentChangeInput) -> None:
        self._require_running()
        rules.require_lead(self._lead, request.staff_department, request.staff_roles)
        rules.require_reason(request.reason)
        if f"add:{request.department_code}" in self._deciding:
            raise ApplicationError("that department is being added", type=ErrorType.TASK_EXISTS)
        rules.check_added(self._tasks, request.department_code, request.committed_days)

    @workflow.update(name="remove_department")
    async def remove_department(self, request: DepartmentChangeInput) -> TaskActionResult:
        """减签: an undecided department leaves; its open task is cancelled."""
        task = self._tasks[request.department_code]
        if task.removed:
            return self._task_result(task)
        task.removed = True
        task.state, task.reason = TaskState.CANCELLED, request.reason
        await self._publisher.publish(
            DepartmentRemoved(
                department_code=task.department_code,
                reason=request.reason,
                actor=staff(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @remove_department.validator
    def _validate_remove(self, request: DepartmentChangeInput) -> None:
        self._require_running()
        rules.require_lead(self._lead, request.staff_department, request.staff_roles)
        rules.require_reason(request.reason)
        task = rules.check_removed(self._tasks, request.department_code, self._lead)
        if task.department_code in self._deciding:
            self._require_open(task)

    @workflow.update(name="request_extension")
    async def request_extension(self, request: ExtensionRequestInput) -> TaskActionResult:
        task = self._tasks[request.department_code]
        task.pending_extension = (request.days, request.reason)
        await self._publisher.publish(
            ExtensionRequested(
                department_code=task.department_code,
                days=request.days,
                reason=request.reason,
                actor=staff(request.staff_id, request.staff_department),
            )
        )
        return self._task_result(task)

    @request_extension.validator
    def _validate_extension_request(self, request: ExtensionRequestInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        self._require_open(task)
        rules.require_assignee(task, request.staff_id, request.staff_roles)
        rules.require_reason(request.reason)
        bound = self._matter.extension_days if self._matter else 0
        rules.check_extension_request(task, request.days, bound)

    @workflow.update(name="decide_extension")
    async def decide_extension(self, request: ExtensionDecisionInput) -> TaskActionResult:
        """The head approves (the deadlines move by the days) or refuses (nothing moves)."""
        task = self._tasks[request.department_code]
        if task.pending_extension is None:
            return self._task_result(task)  # a concurrent decision won
        (days, reason), task.pending_extension = task.pending_extension, None
        self._deciding.add(task.department_code)
        try:
            if request.approved:
                task.extended_days += days
                await self._supervision.extend(task.department_code, days)
            await self._publisher.publish(
                ExtensionDecided(
                    department_code=task.department_code,
                    approved=request.approved,
                    days=days,
                    reason=reason,
                    note=request.note,
                    clock=self._task_clock(task),
                    actor=staff(request.staff_id, request.staff_department),
                    extended_days_total=task.extended_days,
                    contact=self._app.contact if request.approved else None,
                )
            )
        finally:
            self._deciding.discard(task.department_code)
        return self._task_result(task)

    @decide_extension.validator
    def _validate_extension_decision(self, request: ExtensionDecisionInput) -> None:
        task = self._task_for(request.department_code, request.staff_department)
        self._require_open(task)
        rules.check_extension_decision(task, request.staff_roles)

    # -- the window (受理审查) and joint inspections (联合踏勘) ----------------------------

    @workflow.update(name="review_acceptance")
    async def review_acceptance(self, request: AcceptanceReviewInput) -> AcceptanceReviewResult:
        """The window's answer; the run acts on it (accepts, or refuses and ends)."""
        self._review = request
        number = "" if request.accept else self._refusal_number()
        return AcceptanceReviewResult(self._code, request.accept, number)

    @review_acceptance.validator
    def _validate_review(self, request: AcceptanceReviewInput) -> None:
        if self._state in CLOSED or self._withdrawal is not None:
            raise ApplicationError(
                f"application {self._code} is {self._state}", type=ErrorType.APPLICATION_CLOSED
            )
        if self._review is not None:
            raise ApplicationError(
                "the window has already decided", type=ErrorType.NOT_AT_ACCEPTANCE
            )
        # Before the matter is known, or while the window's review is due.
        reviewing = (
            self._window_open
            and self._state == ApplicationState.ACCEPTANCE
            and (self._matter is None or self._matter.acceptance_review_days > 0)
        )
        rules.check_review(
            request.staff_roles,
            accept=request.accept,
            reason=request.reason,
            legal_basis=request.legal_basis,
            awaiting_review=reviewing,
            awaiting_supplement=self._window_open
            and self._state == ApplicationState.AWAITING_SUPPLEMENT,
        )

    @workflow.update(name="start_joint_inspection")
    async def start_joint_inspection(self, request: JointInspectionInput) -> JointInspectionResult:
        """联合踏勘: each attending task's clock stops until that department records its
        finding (ending its special procedure); the others run on."""
        attending = [self._tasks[code] for code in request.department_codes]
        for task in attending:
            task.special_procedure = SpecialProcedureKind.ON_SITE_INSPECTION
            task.joint_inspection = True
            self._supervision.hold(task.department_code, HoldCause.SPECIAL_PROCEDURE)
            self._supervision.watch_special(
                task.department_code, SpecialProcedureKind.ON_SITE_INSPECTION
            )
        await asyncio.gather(
            *(
                self._publisher.publish(
                    SpecialProcedureStarted(
                        department_code=task.department_code,
                        kind=SpecialProcedureKind.ON_SITE_INSPECTION,
                        note=request.note,
                        clock=self._task_clock(task, paused=True),
                        actor=staff(request.staff_id, request.staff_department),
                        attending_departments=list(request.department_codes),
                    )
                )
                for task in attending
            )
        )
        return JointInspectionResult(self._code, list(request.department_codes))

    @start_joint_inspection.validator
    def _validate_joint_inspection(self, request: JointInspectionInput) -> None:
        self._require_running()
        rules.require_lead(self._lead, request.staff_department, ())
        attending = rules.check_joint_inspection(
            self._tasks,
            list(request.department_codes),
            allowed=bool(self._matter and self._matter.joint_inspection),
            note=request.note,
        )
        for task in attending:
            self._require_open(task)

    def _require_running(self) -> None:
        """Operations on the application as a whole: after its tasks started, before it
        closed."""
        if not self._tasks:
            # Not accepted (yet): no department has a task, so to the department API this
            # is as unknown as any application (one 404). Validators do not run on replay.
            raise ApplicationError(f"no task yet in {self._code}", type=ErrorType.UNKNOWN_TASK)
        if self._state in CLOSED or self._withdrawal is not None or self._closing:
            raise ApplicationError(
                f"application {self._code} is {self._state}", type=ErrorType.APPLICATION_CLOSED
            )
        if not self._tasks_started:
            raise ApplicationError(
                "the tasks are being started; retry in a moment", type=ErrorType.TASK_NOT_OPEN
            )

    # -- the applicant and the calendar (signals) -----------------------------------------

    @workflow.signal(name="withdraw")
    def withdraw(self, request: WithdrawalInput) -> None:
        if self._state not in CLOSED and self._withdrawal is None:
            self._withdrawal = request

    @workflow.signal(name="supplement")
    def supplement(self, request: SupplementInput) -> None:
        if self._state in CLOSED:
            return
        self._provided.update(request.materials)
        self._deficient = [code for code in self._deficient if code not in self._provided]
        self._supplements += 1
        reopened = [t for t in self._tasks.values() if t.state == TaskState.SUPPLEMENT_REQUESTED]
        for task in reopened:
            task.state = TaskState.OPEN
        self._supervision.release(HoldCause.SUPPLEMENT)
        if reopened and since(CLOCKS_RESUMED_PATCH):
            resumed = ClocksResumed(
                department_codes=[t.department_code for t in reopened],
                materials=list(request.materials),
                actor=Actor(ActorKind.APPLICANT, self._app.integrator_id),
            )
            self._background.append(asyncio.create_task(self._publisher.publish(resumed)))

    @workflow.signal(name="calendar_updated")
    def calendar_updated(self, update: CalendarUpdate) -> None:
        self._supervision.calendar_updated()

    @workflow.query(name="snapshot")
    def snapshot(self) -> ApplicationSnapshot:
        clock = self._supervision.application_clock
        return ApplicationSnapshot(
            application_code=self._code,
            matter_code=self._app.matter_code,
            state=self._state,
            accepted_at=self._accepted_at.isoformat() if self._accepted_at else "",
            due_at=clock.due_at.isoformat() if clock else "",
            provisional=clock.provisional if clock else False,
            missing_materials=list(self._missing or self._deficient),
            # Tasks show once started: nobody acts on a task before its start is published.
            tasks=[task.snapshot() for task in self._tasks.values()] if self._tasks_started else [],
            elicence_number=self._elicence_number,
            supervision_level=self._supervision.level(),
            lead_department=self._lead,
            agent=self._app.agent,
            checks=list(self._checks),
            checks_without_consent=list(self._checks_without_consent),
            rule_version=self._rule_version,
        )

    def _task_list(self, version: int) -> TaskListUpdate:
        """The tasks as they are, once their starts go out (the publishing activity
        writes them after the events it publishes)."""
        shown = self._tasks_started or self._starts_released
        return TaskListUpdate(
            matter_code=self._app.matter_code,
            application_state=self._state,
            version=version,
            tasks=[task.snapshot() for task in self._tasks.values()] if shown else [],
        )

    # -- what events show ----------------------------------------------------------------

    def _supplement_due(self) -> datetime:
        """Until when the applicant may provide a supplement asked for now (the
        acceptance's wait; natural days)."""
        days = self._matter.supplement_days if self._matter else 20
        return workflow.now() + timedelta(days=days)

    def _result(self) -> ApplicationResult:
        return ApplicationResult(self._code, self._state, self._elicence_number)

    def _day_kind(self) -> str:
        return self._matter.day_kind if self._matter else ""

    def _application_clock(self) -> Clock:
        clock = self._supervision.application_clock
        return Clock(
            committed_days=self._matter.committed_days if self._matter else 0,
            day_kind=self._day_kind(),
            started_at=self._accepted_at,
            due_at=clock.due_at if clock else None,
            provisional=clock.provisional if clock else False,
        )

    def _task_clock(self, task: Task, *, paused: bool = False) -> Clock:
        return task.clock(self._day_kind(), paused=paused)

    async def _publish_acceptance(
        self, outcome: AcceptanceOutcome, *, missing: list[str], reason: str = ""
    ) -> None:
        await self._publisher.publish(
            ApplicationAccepted(
                matter_code=self._matter.code if self._matter else self._app.matter_code,
                outcome=outcome,
                missing_materials=missing,
                reason=reason,
                clock=self._application_clock(),
                contact=self._app.contact,
                checks=list(self._checks),
                auto_approved=self._auto_approved,
                checks_without_consent=list(self._checks_without_consent),
                rule_version=self._rule_version,
                supplement_due_at=self._supplement_due()
                if outcome is AcceptanceOutcome.SUPPLEMENT_REQUESTED
                else None,
            )
        )
