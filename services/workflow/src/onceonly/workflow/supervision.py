"""E-supervision (电子监察) of one joint approval: durable timers for every clock.

Workflow code (deterministic). The clocks themselves are pure (supervision_clock);
this module waits for their alerts, moves their deadlines after pauses and calendar
updates (activities: the calendar is data and must be read once, into the history),
and publishes the alerts. Since LEGAL_LIMIT_PATCH also the legal limit (法定时限) of each
clock and the maximum length of each special procedure (特别程序).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair

from onceonly.workflow.approval_events import Clock, SpecialProcedureOverrun, SupervisionAlert
from onceonly.workflow.case_clocks import case_code
from onceonly.workflow.department_tasks import Task
from onceonly.workflow.patches import run_activity, run_short
from onceonly.workflow.publisher import EventPublisher
from onceonly.workflow.shared import (
    AddDaysRequest,
    DeadlineRequest,
    DeadlineResult,
    ExtendRequest,
    ExtendResult,
    MatterSnapshot,
    RecomputeRequest,
    SupervisionPolicy,
)
from onceonly.workflow.supervision_clock import (
    APPLICATION_CLOCK,
    Alert,
    EscalationPolicy,
    Hold,
    HoldCause,
    Level,
    SupervisionClock,
    highest_level,
)

SUPERVISION_LEVEL = SearchAttributeKey.for_keyword("SupervisionLevel")
DUE_TIME = SearchAttributeKey.for_datetime("DueTime")


class Supervision:
    def __init__(
        self,
        *,
        policy: SupervisionPolicy,
        tasks: dict[str, Task],
        publisher: EventPublisher,
        closing: Callable[[], bool],
    ) -> None:
        self.clocks: dict[str, SupervisionClock] = {}
        self._matter_code = ""
        self._day_kind = ""
        self._policy = policy
        self._reminders = EscalationPolicy(policy.escalation_hours, policy.max_escalations)
        self._tasks = tasks
        self._publisher = publisher
        self._closing = closing
        self._calendar_updates = 0
        self.supervised = False  # e-supervision timers: SUPERVISION_PATCH
        self.legal = False  # legal deadlines and special procedures' timers: LEGAL_LIMIT_PATCH
        # A red alert opens a supervision case (督办件) instead of repeating reminders:
        # SUPERVISION_CASES_PATCH. The cases opened so far, per clock (their codes count).
        self.cases = False
        self._cases_opened: dict[str, int] = {}
        self._special_max_days: dict[str, int] = {}
        self._special_runs: dict[str, int] = {}  # procedures started, per department
        self.watchers: list[asyncio.Task[None]] = []
        self._running: set[str] = set()  # the clocks whose timers run now

    @property
    def _escalation(self) -> EscalationPolicy:
        """The reminders after a red (or legal) alert: none since SUPERVISION_CASES_PATCH,
        where the supervision case the red alert opens carries the escalation."""
        if self.cases:
            return EscalationPolicy(self._reminders.escalation_hours, max_escalations=0)
        return self._reminders

    def resolve(self, matter_code: str, day_kind: str) -> None:
        """The matter, once resolved (clocks start only after it)."""
        self._matter_code, self._day_kind = matter_code, day_kind

    async def limit_by_law(self, matter: MatterSnapshot) -> None:
        """Legal deadlines for the clocks just started (the application's and each
        task's with a legal limit), from the same acceptance and on the same calendar as
        their committed ones; and the special procedures' maximum lengths."""
        if not self.legal:
            return
        self._special_max_days = dict(matter.special_procedure_max_days)
        limits = {APPLICATION_CLOCK: matter.legal_days}
        limits |= {task.department_code: task.legal_days for task in matter.tasks}
        keyed = [(key, days) for key, days in limits.items() if days > 0 and key in self.clocks]
        if not keyed:
            return
        deadlines = await run_short(
            "compute_deadlines",
            DeadlineRequest(
                accepted_at=self.clocks[keyed[0][0]].started_at,
                day_kind=self._day_kind,
                limits=[days for _, days in keyed],
            ),
            result_type=DeadlineResult,
        )
        for (key, days), due in zip(keyed, deadlines.due_at, strict=True):
            self.clocks[key].legal_days, self.clocks[key].legal_due_at = days, due

    @property
    def application_clock(self) -> SupervisionClock | None:
        return self.clocks.get(APPLICATION_CLOCK)

    def level(self, key: str = APPLICATION_CLOCK) -> Level:
        clock = self.clocks.get(key)
        return clock.level if clock else Level.NONE

    def view(self, clock: SupervisionClock) -> Clock:
        return Clock(
            committed_days=clock.committed_days,
            day_kind=self._day_kind,
            started_at=clock.started_at,
            due_at=clock.due_at,
            paused=clock.paused,
            provisional=clock.provisional,
        )

    # -- holds (rule 2: only the clocks that wait on the supplement or the procedure) ----

    def hold(self, department_code: str, cause: HoldCause) -> None:
        """Stop the task's clock and the application's, which waits on the task."""
        now = workflow.now()
        for key in (department_code, APPLICATION_CLOCK):
            clock = self.clocks.get(key)
            if clock is not None:
                clock.hold(Hold(department_code, cause), now)
        self._sync_paused()

    def release(self, cause: HoldCause, *, department_code: str | None = None) -> None:
        """End every hold for `cause` (of one department, or of all); a clock with no
        hold left runs again and is later moved by the days it stood still."""
        now = workflow.now()
        for clock in self.clocks.values():
            clock.release(cause, now, department_code=department_code)
        self._sync_paused()

    def _sync_paused(self) -> None:
        for key, task in self._tasks.items():
            clock = self.clocks.get(key)
            task.paused = bool(clock and clock.holds)

    # -- timers ---------------------------------------------------------------------------

    def _over(self, clock: SupervisionClock) -> bool:
        if self._closing():
            return True
        task = self._tasks.get(clock.key)
        return task is not None and task.decided

    def _changed(self, clock: SupervisionClock, version: int) -> Callable[[], bool]:
        return lambda: clock.version != version or clock.paused or self._over(clock)

    def _resumed(self, clock: SupervisionClock) -> Callable[[], bool]:
        return lambda: not clock.paused or self._over(clock)

    def watch(self, clock: SupervisionClock) -> None:
        """Run the clock's timers, unless they run already (a clock's timers stop once
        its task is decided; a return or an extension may need them again)."""
        if self.supervised and clock.key not in self._running:
            self._running.add(clock.key)
            self.watchers.append(asyncio.create_task(self.supervise(clock)))

    async def supervise(self, clock: SupervisionClock) -> None:
        try:
            await self._supervise(clock)
        finally:
            self._running.discard(clock.key)

    async def _supervise(self, clock: SupervisionClock) -> None:
        """Durable timers for one clock: yellow, red, then escalation reminders."""
        while not self._over(clock):
            if clock.ended_pauses:
                await self._apply_pauses(clock)
                continue
            if clock.paused:
                await workflow.wait_condition(self._resumed(clock))
                continue
            alert = clock.next_alert(self._escalation)
            if alert is None:
                return
            wait = alert.due - workflow.now()
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(self._changed(clock, clock.version), timeout=wait)
                    continue  # paused, moved or decided before the alert was due
                except TimeoutError:
                    pass
            await self._raise(clock, alert)

    async def _raise(self, clock: SupervisionClock, alert: Alert) -> None:
        clock.raise_alert(alert)
        task = self._tasks.get(clock.key)
        if task is not None:
            task.supervision_level = alert.level
        highest = highest_level(list(self.clocks.values()))
        workflow.upsert_search_attributes([SearchAttributePair(SUPERVISION_LEVEL, highest.value)])
        now = workflow.now()
        await self._publisher.publish(
            SupervisionAlert(
                matter_code=self._matter_code,
                department_code=clock.key,
                level=alert.level,
                escalation=alert.escalation,
                clock=self.view(clock),
                seconds_left=int((clock.due_at - now).total_seconds()),
                raised_at=now,
                legal_due_at=clock.legal_due_at,
                case_code=self._case_for(clock, alert),
            )
        )

    def _case_for(self, clock: SupervisionClock, alert: Alert) -> str:
        """The code of the supervision case a red alert opens (the bridge starts it from the
        alert), or "" for every other alert and before SUPERVISION_CASES_PATCH."""
        if not self.cases or alert.level is not Level.RED or alert.escalation != 0:
            return ""
        opened = self._cases_opened.get(clock.key, 0) + 1
        self._cases_opened[clock.key] = opened
        return case_code(self._publisher.application_code, clock.key, opened)

    async def _apply_pauses(self, clock: SupervisionClock) -> None:
        """Move the clock's deadlines by the days its pauses took."""
        while (pause := clock.take_ended_pause()) is not None:
            moved = await run_activity(
                "extend_deadline",
                ExtendRequest(
                    due_at=clock.due_at,
                    yellow_at=clock.yellow_at,
                    paused_at=pause.paused_at,
                    resumed_at=pause.resumed_at,
                    day_kind=self._day_kind,
                    legal_due_at=clock.legal_due_at,
                ),
                result_type=ExtendResult,
            )
            clock.move(
                moved.due_at,
                moved.yellow_at,
                moved.provisional,
                applied=pause,
                legal_due_at=moved.legal_due_at,
            )
        self.show(clock)

    def show(self, clock: SupervisionClock) -> None:
        """Copy a clock's deadline to where it is read: its task, or the application's
        search attribute."""
        task = self._tasks.get(clock.key)
        if task is not None:
            task.due_at, task.provisional = clock.due_at, clock.provisional
        elif clock.key == APPLICATION_CLOCK:
            workflow.upsert_search_attributes([SearchAttributePair(DUE_TIME, clock.due_at)])

    async def extend(self, department_code: str, days: int) -> None:
        """An approved extension of a task's clock; the application's moves with it
        where the task now ends later."""
        clock = self.clocks[department_code]
        moved = await run_activity(
            "add_days",
            AddDaysRequest(clock.due_at, clock.yellow_at, days, self._day_kind, clock.legal_due_at),
            result_type=ExtendResult,
        )
        now = workflow.now()
        escalation = self._escalation
        clock.extend(
            moved.due_at,
            moved.yellow_at,
            moved.provisional,
            now,
            legal_due_at=moved.legal_due_at,
            policy=escalation,
        )
        self.show(clock)
        self.watch(clock)
        application = self.application_clock
        if application is not None and clock.due_at > application.due_at:
            legal = application.legal_due_at
            if legal is not None and clock.legal_due_at is not None:
                legal = max(legal, clock.legal_due_at)
            application.extend(
                clock.due_at,
                max(application.yellow_at, clock.yellow_at),
                clock.provisional,
                now,
                legal_due_at=legal,
                policy=escalation,
            )
            self.show(application)
            self.watch(application)

    # -- the calendar ------------------------------------------------------------------------

    def calendar_updated(self) -> None:
        self._calendar_updates += 1

    def _calendar_changed(self, seen: int) -> Callable[[], bool]:
        return lambda: self._calendar_updates > seen or self._closing()

    async def follow_calendar(self) -> None:
        """Recompute provisional deadlines each time the calendar is updated."""
        seen = 0
        while True:
            await workflow.wait_condition(self._calendar_changed(seen))
            if self._closing():
                return
            seen = self._calendar_updates
            for clock in [c for c in self.clocks.values() if c.provisional]:
                if clock.paused or clock.ended_pauses or self._over(clock):
                    continue  # moved again when its pause ends; or no longer watched
                fresh = await run_activity(
                    "recompute_deadline",
                    RecomputeRequest(
                        accepted_at=clock.started_at,
                        days=clock.committed_days,
                        day_kind=self._day_kind,
                        pauses=[[p.paused_at, p.resumed_at] for p in clock.applied_pauses],
                        yellow_share=self._policy.yellow_share,
                        yellow_days_left=self._policy.yellow_days_left,
                        legal_days=clock.legal_days if clock.legal_due_at else 0,
                    ),
                    result_type=ExtendResult,
                )
                clock.move(
                    fresh.due_at,
                    fresh.yellow_at,
                    fresh.provisional,
                    legal_due_at=fresh.legal_due_at,
                )
                self.show(clock)

    # -- special procedures (特别程序) ------------------------------------------------------

    def watch_special(self, department_code: str, kind: str) -> None:
        """A timer for the special procedure just started: it alerts once if the
        procedure is still running after the catalogue's maximum for its kind."""
        max_days = self._special_max_days.get(kind, 0)
        if not self.legal or max_days <= 0:
            return
        run = self._special_runs.get(department_code, 0) + 1
        self._special_runs[department_code] = run
        watcher = self._watch_special(department_code, kind, max_days, run)
        self.watchers.append(asyncio.create_task(watcher))

    def _special_over(self, department_code: str, run: int) -> Callable[[], bool]:
        task = self._tasks[department_code]
        return lambda: (
            self._closing()
            or self._special_runs.get(department_code) != run
            or not task.special_procedure
        )

    async def _watch_special(self, department_code: str, kind: str, days: int, run: int) -> None:
        started_at = workflow.now()
        deadlines = await run_short(
            "compute_deadlines",
            DeadlineRequest(accepted_at=started_at, day_kind=self._day_kind, limits=[days]),
            result_type=DeadlineResult,
        )
        due_at = deadlines.due_at[0]
        over = self._special_over(department_code, run)
        try:
            await workflow.wait_condition(over, timeout=max(due_at - workflow.now(), timedelta(0)))
            return  # ended (or the application closed) in time
        except TimeoutError:
            pass
        if over():
            return
        await self._publisher.publish(
            SpecialProcedureOverrun(
                matter_code=self._matter_code,
                department_code=department_code,
                kind=kind,
                max_days=days,
                day_kind=self._day_kind,
                started_at=started_at,
                due_at=due_at,
                raised_at=workflow.now(),
            )
        )
