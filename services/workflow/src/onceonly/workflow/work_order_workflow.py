"""HotlineWorkOrder: one 12345 work order, from filing to the caller's satisfaction.

Deterministic orchestration only: the clocks' deadlines come from an activity (the
calendar), the rules from `work_orders`, the publishing (and the department's list) from
an activity. One round runs the sign-for clock until the department signs, then the
reply clock until it answers; each raises yellow, then red, once. A callback that is not
satisfied opens a new round with new clocks; a satisfied one closes the order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from onceonly.workflow import work_orders as rules
    from onceonly.workflow.work_order_clocks import ClockName
    from onceonly.workflow.work_order_shared import (
        WORK_ORDER_WORKFLOW,
        CallbackInput,
        ClocksRequest,
        ReplyInput,
        SignInput,
        WorkOrderClocks,
        WorkOrderEvent,
        WorkOrderInput,
        WorkOrderPublish,
        WorkOrderView,
    )
    from onceonly.workflow.work_orders import WorkOrderRefused, WorkOrderStatus

_ACTIVITY_TIMEOUT = timedelta(seconds=30)
YELLOW, RED, NONE = "yellow", "red", "none"


def _refusal(exc: WorkOrderRefused) -> ApplicationError:
    return ApplicationError(str(exc), type=exc.error.value, non_retryable=True)


@workflow.defn(name=WORK_ORDER_WORKFLOW)
class HotlineWorkOrder:
    @workflow.init
    def __init__(self, order: WorkOrderInput) -> None:
        # Given here too: an Update may come in the first workflow task, before `run`.
        self._order: WorkOrderInput | None = order
        self._status = WorkOrderStatus.OPEN
        self._clocks: WorkOrderClocks | None = None
        self._level = NONE  # of the clock that runs now
        self._version = 0
        self._signed_at: datetime | None = None
        self._answered_at: datetime | None = None
        self._reply = ""
        self._satisfied: bool | None = None
        self._opened = False  # WorkOrderOpened is out: Updates wait for it

    @workflow.run
    async def run(self, order: WorkOrderInput) -> WorkOrderView:
        self._order = order
        await self._start_round(1, workflow.now(), "opened", None)
        self._opened = True
        while self._status is not WorkOrderStatus.CLOSED:
            await self._supervise()
        # The satisfied callback's Update publishes the closing after the state changed.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    async def _start_round(
        self, round: int, at: datetime, kind: str, actor: CallbackInput | None
    ) -> None:
        assert self._order is not None
        self._clocks = await workflow.execute_activity(
            "work_order_clocks",
            ClocksRequest(self._order.kind, self._order.region_code, at, round),
            result_type=WorkOrderClocks,
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
        )
        self._status = WorkOrderStatus.OPEN  # a new round waits to be signed for
        self._level = NONE
        self._version += 1
        await self._publish(kind, clocks=self._clocks, actor=actor)

    async def _supervise(self) -> None:
        """Wait for the next alert of the running clock, or for a change that moves it."""
        assert self._clocks is not None
        if self._status is WorkOrderStatus.OPEN:
            clock, due, yellow = (
                ClockName.SIGN,
                self._clocks.sign_due_at,
                self._clocks.sign_yellow_at,
            )
        elif self._status is WorkOrderStatus.SIGNED:
            clock, due = ClockName.REPLY, self._clocks.reply_due_at
            yellow = self._clocks.reply_yellow_at
        else:
            # Answered: no department clock runs until the callback.
            version = self._version
            await workflow.wait_condition(lambda: self._version != version)
            return
        if self._level == RED:
            version = self._version
            await workflow.wait_condition(lambda: self._version != version)
            return
        level, at = (YELLOW, yellow) if self._level == NONE else (RED, due)
        version = self._version
        wait = max(timedelta(0), at - workflow.now())
        try:
            await workflow.wait_condition(lambda: self._version != version, timeout=wait)
        except TimeoutError:
            self._level = level
            self._version += 1
            now = workflow.now()
            await self._publish(
                "alert",
                clock=clock.value,
                level=level,
                due_at=due,
                seconds_left=int((due - now).total_seconds()),
            )

    async def _publish(
        self,
        kind: str,
        *,
        actor: SignInput | ReplyInput | CallbackInput | None = None,
        **fields: object,
    ) -> None:
        order = self._order
        assert order is not None and self._clocks is not None
        event = WorkOrderEvent(
            event_id=str(workflow.uuid4()),
            type=kind,
            order_code=order.order_code,
            application_code=order.subject,
            department_code=order.department_code,
            at=workflow.now(),
            round=self._clocks.round,
            actor_kind="staff" if actor is not None else "system",
            actor_id=actor.staff_id if actor is not None else "workflow",
            **fields,  # type: ignore[arg-type]
        )
        await workflow.execute_activity(
            "publish_work_order_event",
            WorkOrderPublish(event=event, view=self.view()),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
        )

    @workflow.query(name="view")
    def view(self) -> WorkOrderView:
        order = self._order
        assert order is not None
        clocks = self._clocks
        return WorkOrderView(
            order_code=order.order_code,
            kind=order.kind,
            department_code=order.department_code,
            attached_application_code=order.attached_application_code,
            status=self._status.value,
            round=clocks.round if clocks is not None else 1,
            level=self._level,
            filed_at=order.filed_at,
            sign_due_at=clocks.sign_due_at if clocks is not None else None,
            reply_due_at=clocks.reply_due_at if clocks is not None else None,
            signed_at=self._signed_at,
            answered_at=self._answered_at,
            reply=self._reply,
            satisfied=self._satisfied,
            caller_mobile_masked=order.caller_mobile_masked,
            hotline_reference=order.hotline_reference,
            version=self._version,
        )

    def _department(self) -> str:
        assert self._order is not None
        return self._order.department_code

    @workflow.update(name="sign")
    async def sign(self, request: SignInput) -> WorkOrderView:
        # An Update accepted before the order was opened (its clocks known, its opening
        # published) waits for it, so that the events keep their order.
        await workflow.wait_condition(lambda: self._opened)
        assert self._clocks is not None
        now = workflow.now()
        late = now > self._clocks.sign_due_at
        self._status, self._signed_at, self._level = WorkOrderStatus.SIGNED, now, NONE
        self._version += 1
        await self._publish("signed", actor=request, late=late)
        return self.view()

    @sign.validator
    def _validate_sign(self, request: SignInput) -> None:
        try:
            rules.check_sign(
                self._status, self._department(), request.staff_department, request.staff_roles
            )
        except WorkOrderRefused as exc:
            raise _refusal(exc) from None

    @workflow.update(name="reply")
    async def reply(self, request: ReplyInput) -> WorkOrderView:
        assert self._clocks is not None and self._order is not None
        now = workflow.now()
        late = now > self._clocks.reply_due_at
        self._status, self._answered_at, self._reply = WorkOrderStatus.ANSWERED, now, request.reply
        self._level = NONE
        self._version += 1
        await self._publish(
            "answered",
            actor=request,
            late=late,
            reply=request.reply,
            caller_mobile_sealed=self._order.caller_mobile_sealed,
            caller_mobile_masked=self._order.caller_mobile_masked,
            language=self._order.language,
        )
        return self.view()

    @reply.validator
    def _validate_reply(self, request: ReplyInput) -> None:
        try:
            rules.check_reply(
                self._status,
                self._department(),
                request.staff_department,
                request.staff_roles,
                request.reply,
            )
        except WorkOrderRefused as exc:
            raise _refusal(exc) from None

    @workflow.update(name="record_callback")
    async def record_callback(self, request: CallbackInput) -> WorkOrderView:
        assert self._clocks is not None
        self._satisfied = request.satisfied
        if request.satisfied:
            self._status = rules.after_callback(satisfied=True)
            self._version += 1
        await self._publish(
            "called_back", actor=request, satisfied=request.satisfied, comment=request.comment
        )
        if request.satisfied:
            await self._publish("closed", actor=request)
        else:
            # Open again only with the new round's clocks: the old ones are long past.
            self._signed_at = self._answered_at = None
            await self._start_round(self._clocks.round + 1, workflow.now(), "reopened", request)
        return self.view()

    @record_callback.validator
    def _validate_callback(self, request: CallbackInput) -> None:
        try:
            rules.check_callback(
                self._status,
                self._department(),
                request.staff_department,
                request.staff_roles,
                request.comment,
            )
        except WorkOrderRefused as exc:
            raise _refusal(exc) from None
