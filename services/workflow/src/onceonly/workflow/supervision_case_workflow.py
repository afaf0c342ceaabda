"""SupervisionCase: one supervision case (督办件), opened when a red alert is escalated.

Deterministic orchestration only. The case is addressed to its first level (the
department head); when the level's response clock runs out without the department's
written response, it climbs to the next (the supervision office), with a new response
clock; the last level stays open until the response. Only the department's written
response (an Update, from its head) closes it. The levels and their response days come
in the input (the bridge's settings), the deadlines from an activity (the calendar).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from onceonly.workflow import cases as rules
    from onceonly.workflow.case_clocks import answered_late, next_level
    from onceonly.workflow.case_publisher import (
        ACTIVITY_TIMEOUT,
        RETRY,
        actor,
        publish_case_event,
    )
    from onceonly.workflow.case_shared import (
        SUPERVISION_CASE_KIND,
        SUPERVISION_CASE_WORKFLOW,
        CaseActor,
        CaseResponseInput,
        ResponseDue,
        ResponseDueRequest,
        SupervisionCaseInput,
        SupervisionCaseView,
    )
    from onceonly.workflow.cases import CaseRefused, CaseStatus
    from onceonly.workflow.rectification_workflow import refusal


@workflow.defn(name=SUPERVISION_CASE_WORKFLOW)
class SupervisionCase:
    @workflow.init
    def __init__(self, case: SupervisionCaseInput) -> None:
        self._case = case
        self._status = CaseStatus.OPEN
        self._level = 1
        self._due_at: datetime | None = None
        self._version = 0
        # Not between levels: a response waits while the case climbs, so that its
        # closing never precedes the escalation on the topic.
        self._settled = False
        self._responded_at: datetime | None = None
        self._response = ""
        self._late: bool | None = None

    @workflow.run
    async def run(self, case: SupervisionCaseInput) -> SupervisionCaseView:
        await self._reach_level(1, "SupervisionCaseOpened")
        while self._status is CaseStatus.OPEN:
            assert self._due_at is not None
            try:
                await workflow.wait_condition(
                    self._closed, timeout=max(timedelta(0), self._due_at - workflow.now())
                )
                break
            except TimeoutError:
                pass
            climbed = next_level(case.levels, self._level)
            if climbed is None:
                await workflow.wait_condition(self._closed)  # the last level: overdue
                break
            self._settled = False
            if self._status is CaseStatus.OPEN:
                await self._reach_level(climbed, "SupervisionCaseEscalated")
            self._settled = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    def _closed(self) -> bool:
        return self._status is CaseStatus.CLOSED

    async def _reach_level(self, level: int, type_: str) -> None:
        spec = self._case.levels[level - 1]
        now = workflow.now()
        due = await workflow.execute_activity(
            "case_response_due",
            ResponseDueRequest(start=now, days=spec.response_days),
            result_type=ResponseDue,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )
        self._level, self._due_at = level, due.due_at
        self._version += 1
        fields: dict[str, Any] = {
            "level": level,
            "addressee": spec.addressee,
            "response_days": spec.response_days,
            "response_due_at": due.due_at,
        }
        if type_ == "SupervisionCaseOpened":
            fields |= {
                "clock_department_code": self._case.clock_department_code,
                "clock_due_at": self._case.clock_due_at or None,
                "opened_at": now,
            }
        else:
            fields["escalated_at"] = now
        await self._publish(type_, None, **{k: v for k, v in fields.items() if v is not None})
        self._settled = True

    async def _publish(self, type_: str, who: CaseActor | None, **fields: Any) -> None:
        case = self._case
        await publish_case_event(
            SUPERVISION_CASE_KIND,
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
    def view(self) -> SupervisionCaseView:
        case = self._case
        return SupervisionCaseView(
            case_code=case.case_code,
            application_code=case.application_code,
            matter_code=case.matter_code,
            department_code=case.department_code,
            clock_department_code=case.clock_department_code,
            status=self._status.value,
            level=self._level,
            addressee=case.levels[self._level - 1].addressee,
            opened_at=case.opened_at,
            clock_due_at=case.clock_due_at,
            response_due_at=self._due_at,
            responded_at=self._responded_at,
            response=self._response,
            late=self._late,
            version=self._version,
        )

    @workflow.update(name="respond")
    async def respond(self, request: CaseResponseInput) -> SupervisionCaseView:
        await workflow.wait_condition(lambda: self._settled)
        if self._status is CaseStatus.CLOSED:
            return self.view()  # a concurrent response came first
        assert self._due_at is not None
        now = workflow.now()
        self._status, self._responded_at, self._response = CaseStatus.CLOSED, now, request.response
        self._late = answered_late(now, self._due_at)
        self._version += 1
        spec = self._case.levels[self._level - 1]
        await self._publish(
            "SupervisionCaseClosed",
            request,
            level=self._level,
            addressee=spec.addressee,
            response=request.response,
            late=self._late,
            responded_at=now,
        )
        return self.view()

    @respond.validator
    def _validate_response(self, request: CaseResponseInput) -> None:
        try:
            rules.check_response(
                self._status,
                self._case.department_code,
                request.staff_department,
                request.staff_roles,
                request.response,
            )
        except CaseRefused as exc:
            raise refusal(exc) from None
