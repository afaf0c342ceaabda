"""Rectification: one bad rating's follow-up (差评整改), from the rating to the rater's view
of the department's answer.

Deterministic orchestration only: the deadlines come from an activity (the calendar and
the configured limit, kept in the history), the rules from `cases`, the publishing (and
the department's list) from an activity. The clock runs from the rating until the
written answer and raises yellow, then red, once each; the department records the
callback to the rater, what it rectified, its answer, then the rater's view, each an
Update whose validator refuses the wrong department, role, step or text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from onceonly.workflow import cases as rules
    from onceonly.workflow.case_clocks import answered_late
    from onceonly.workflow.case_publisher import (
        ACTIVITY_TIMEOUT,
        RETRY,
        actor,
        publish_case_event,
    )
    from onceonly.workflow.case_shared import (
        RECTIFICATION_KIND,
        RECTIFICATION_WORKFLOW,
        CaseActor,
        RectificationClock,
        RectificationClockRequest,
        RectificationInput,
        RectificationStepInput,
        RectificationView,
    )
    from onceonly.workflow.cases import CaseRefused, RectificationStatus, RectificationStep
    from onceonly.workflow.shared import ErrorType

NONE, YELLOW, RED = "none", "yellow", "red"


def refusal(exc: CaseRefused) -> ApplicationError:
    return ApplicationError(str(exc), type=exc.error.value, non_retryable=True)


@workflow.defn(name=RECTIFICATION_WORKFLOW)
class Rectification:
    @workflow.init
    def __init__(self, case: RectificationInput) -> None:
        # Kept here too: an Update may come in the first workflow task, before `run`.
        self._case = case
        self._status = RectificationStatus.OPEN
        self._clock: RectificationClock | None = None
        self._level = NONE
        self._version = 0
        self._opened = False  # RectificationOpened is out: Updates wait for it
        self._steps: dict[RectificationStep, tuple[datetime, str]] = {}
        self._late: bool | None = None
        self._satisfied: bool | None = None

    @workflow.run
    async def run(self, case: RectificationInput) -> RectificationView:
        rated_at = datetime.fromisoformat(case.rated_at)
        self._clock = await workflow.execute_activity(
            "rectification_clock",
            RectificationClockRequest(rated_at=rated_at),
            result_type=RectificationClock,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        self._version += 1
        await self._publish(
            "RectificationOpened",
            None,
            rating_level=case.rating_level,
            limit_days=self._clock.limit_days,
            due_at=self._clock.due_at,
            yellow_at=self._clock.yellow_at,
            rated_at=rated_at,
            opened_at=workflow.now(),
        )
        self._opened = True
        await self._supervise()
        await workflow.wait_condition(lambda: self._status is RectificationStatus.CLOSED)
        # The closing Update publishes after the state changed.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    def _answered(self) -> bool:
        return self._status in (RectificationStatus.ANSWERED, RectificationStatus.CLOSED)

    async def _supervise(self) -> None:
        """Yellow, then red, unless the answer comes first."""
        assert self._clock is not None
        for level, at in ((YELLOW, self._clock.yellow_at), (RED, self._clock.due_at)):
            try:
                await workflow.wait_condition(
                    self._answered, timeout=max(timedelta(0), at - workflow.now())
                )
                return
            except TimeoutError:
                pass
            if self._answered():
                return
            self._level = level
            self._version += 1
            now = workflow.now()
            await self._publish(
                "RectificationAlert",
                None,
                level=level,
                due_at=self._clock.due_at,
                seconds_left=int((self._clock.due_at - now).total_seconds()),
                raised_at=now,
            )

    async def _publish(self, type_: str, who: CaseActor | None, **fields: Any) -> None:
        case = self._case
        await publish_case_event(
            RECTIFICATION_KIND,
            type_,
            application_code=case.application_code,
            view=self.view(),
            fields={
                "case_code": case.case_code,
                "matter_code": case.matter_code,
                "department_code": case.department_code,
                "actor": actor(who),
                **fields,
            },
        )

    @workflow.query(name="view")
    def view(self) -> RectificationView:
        case, clock = self._case, self._clock
        step = self._steps.get
        called_back = step(RectificationStep.CALLBACK)
        rectified = step(RectificationStep.RECTIFICATION)
        answered = step(RectificationStep.ANSWER)
        viewed = step(RectificationStep.VIEW)
        return RectificationView(
            case_code=case.case_code,
            application_code=case.application_code,
            matter_code=case.matter_code,
            department_code=case.department_code,
            rating_level=case.rating_level,
            rating_comment=case.rating_comment,
            rated_at=case.rated_at,
            status=self._status.value,
            level=self._level,
            limit_days=clock.limit_days if clock else 0,
            due_at=clock.due_at if clock else None,
            yellow_at=clock.yellow_at if clock else None,
            called_back_at=called_back[0] if called_back else None,
            callback_note=called_back[1] if called_back else "",
            rectified_at=rectified[0] if rectified else None,
            measures=rectified[1] if rectified else "",
            answered_at=answered[0] if answered else None,
            answer=answered[1] if answered else "",
            late=self._late,
            rater_satisfied=self._satisfied,
            rater_comment=viewed[1] if viewed else "",
            closed_at=viewed[0] if viewed else None,
            version=self._version,
        )

    @workflow.update(name="record_step")
    async def record_step(self, request: RectificationStepInput) -> RectificationView:
        await workflow.wait_condition(lambda: self._opened)
        assert self._clock is not None
        step = RectificationStep(request.step)
        needed, after = rules.STEPS[step]
        if self._status is not needed:
            return self.view()  # a concurrent Update of the same step came first
        now = workflow.now()
        self._status = after
        self._steps[step] = (now, request.text)
        self._version += 1
        if step is RectificationStep.ANSWER:
            self._late = answered_late(now, self._clock.due_at)
            self._level = NONE
            await self._publish(
                "RectificationAnswered",
                request,
                answer=request.text,
                late=self._late,
                due_at=self._clock.due_at,
                answered_at=now,
            )
        elif step is RectificationStep.VIEW:
            self._satisfied = request.satisfied
            await self._publish(
                "RectificationClosed",
                request,
                rater_satisfied=request.satisfied,
                comment=request.text,
                late=bool(self._late),
                closed_at=now,
            )
        else:
            await self._publish(
                "RectificationProgressed",
                request,
                step=step.value,
                note=request.text,
                recorded_at=now,
            )
        return self.view()

    @record_step.validator
    def _validate_step(self, request: RectificationStepInput) -> None:
        try:
            step = RectificationStep(request.step)
        except ValueError:
            raise ApplicationError(
                f"step: unknown {request.step!r}",
                type=ErrorType.INVALID_DECISION.value,
                non_retryable=True,
            ) from None
        try:
            rules.check_rectification_step(
                step,
                self._status,
                self._case.department_code,
                request.staff_department,
                request.staff_roles,
                request.text,
            )
        except CaseRefused as exc:
            raise refusal(exc) from None
