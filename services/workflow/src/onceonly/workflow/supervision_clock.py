"""The supervision clock (电子监察): one per department task and one for the application.

Pure: every instant is given. A clock runs from acceptance to its due time; it stands
still while it is held (a supplement, a special procedure), and the days it stood still
move its deadlines later (the moving itself needs the calendar, so the workflow asks an
activity and hands the result to `move`). It warns yellow, then red at the due time, then
repeats red at the policy's cadence, at most the policy's number of times. A clock with a
legal deadline (法定时限, moved by the same pauses and extensions) raises the legal level
when it passes, and repeats that at the policy's cadence from the legal deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

APPLICATION_CLOCK = ""  # the key of the application's overall clock


class Level(StrEnum):
    """E-supervision levels, in rising order."""

    NONE = "none"
    YELLOW = "yellow"
    RED = "red"
    LEGAL = "legal"  # past the legal limit too (超法定时限)

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Level.NONE: 0, Level.YELLOW: 1, Level.RED: 2, Level.LEGAL: 3}


class HoldCause(StrEnum):
    """Why a department's task stands still (rule 2: only the clocks that wait on it)."""

    SUPPLEMENT = "supplement"
    SPECIAL_PROCEDURE = "special"


@dataclass(frozen=True)
class Hold:
    department_code: str
    cause: HoldCause


@dataclass(frozen=True)
class Pause:
    """A time a clock stood still; its days move the clock's deadlines."""

    paused_at: datetime
    resumed_at: datetime


@dataclass(frozen=True)
class Alert:
    due: datetime
    level: Level
    # 0 for yellow, the first red and the first legal alert; then 1, 2, ... for each
    # reminder after it
    escalation: int


@dataclass(frozen=True)
class EscalationPolicy:
    escalation_hours: int = 24
    max_escalations: int = 30


@dataclass
class SupervisionClock:
    key: str  # the department code, or APPLICATION_CLOCK
    committed_days: int
    started_at: datetime
    due_at: datetime
    yellow_at: datetime
    provisional: bool
    level: Level = Level.NONE
    escalations: int = 0
    paused_since: datetime | None = None
    holds: set[Hold] = field(default_factory=set)
    # Pauses that ended and have not moved the deadlines yet, then those that have
    # (kept: recomputing on a new calendar applies them again).
    ended_pauses: list[Pause] = field(default_factory=list)
    applied_pauses: list[Pause] = field(default_factory=list)
    # Bumped on every change that a supervisor waiting for the next alert must see.
    version: int = 0
    # The legal limit and its deadline; None: not supervised (no legal limit in the
    # catalogue, or a run from before LEGAL_LIMIT_PATCH).
    legal_days: int = 0
    legal_due_at: datetime | None = None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def hold(self, hold: Hold, at: datetime) -> None:
        """Stop the clock for `hold`; the first hold stops it, later ones add a cause."""
        if not self.holds:
            self.paused_since = at
            self.version += 1
        self.holds.add(hold)

    def release(
        self, cause: HoldCause, at: datetime, *, department_code: str | None = None
    ) -> None:
        """End the holds for `cause` (of one department, or of all); once no hold is
        left the clock runs again, and the pause waits in `ended_pauses` to be applied."""
        ended = {
            hold
            for hold in self.holds
            if hold.cause is cause
            and (department_code is None or hold.department_code == department_code)
        }
        if not ended:
            return
        self.holds -= ended
        if not self.holds and self.paused_since is not None:
            self.ended_pauses.append(Pause(self.paused_since, at))
            self.paused_since = None
            self.version += 1

    def take_ended_pause(self) -> Pause | None:
        """The oldest pause that has not moved the deadlines yet, taken off the list;
        `move(..., applied=pause)` records it once its days are applied."""
        return self.ended_pauses.pop(0) if self.ended_pauses else None

    def move(
        self,
        due_at: datetime,
        yellow_at: datetime,
        provisional: bool,
        *,
        applied: Pause | None = None,
        legal_due_at: datetime | None = None,
    ) -> None:
        """New deadlines: after a pause is applied (`applied`), or recomputed on a new
        calendar (then provisional is the fresh answer, not sticky)."""
        self.due_at, self.yellow_at = due_at, yellow_at
        if legal_due_at is not None:
            self.legal_due_at = legal_due_at
        if applied is not None:
            self.applied_pauses.append(applied)
            self.provisional = self.provisional or provisional
        else:
            self.provisional = provisional
        self.version += 1

    def extend(
        self,
        due_at: datetime,
        yellow_at: datetime,
        provisional: bool,
        now: datetime,
        *,
        legal_due_at: datetime | None = None,
        policy: EscalationPolicy | None = None,
    ) -> None:
        """An approved extension: later deadlines, and the alerts they make due again (a
        red clock whose new due time is ahead is yellow again, or not alerted at all; a
        legal one whose legal deadline is ahead is red again)."""
        self.move(due_at, yellow_at, provisional, applied=None, legal_due_at=legal_due_at)
        self.provisional = self.provisional or provisional
        legal = self.legal_due_at
        if self.level is Level.LEGAL and (legal is None or legal > now):
            # Red again, its reminders counted as if it had never left red: none of the
            # ones already due fires now in a burst.
            step = timedelta(hours=(policy or EscalationPolicy()).escalation_hours)
            elapsed = max(0, (now - self.due_at) // step) if self.due_at < now else 0
            self.level = Level.RED
            self.escalations = min(elapsed, (policy or EscalationPolicy()).max_escalations)
        if due_at > now and self.level is Level.RED:
            self.level, self.escalations = Level.YELLOW, 0
        if yellow_at > now and self.level is Level.YELLOW:
            self.level = Level.NONE

    def resume_after(self, decided_at: datetime, now: datetime) -> None:
        """A decided task returned for re-review: the days it stood decided do not count
        (moved by the supervisor, like a pause)."""
        self.ended_pauses.append(Pause(decided_at, now))
        self.version += 1

    def next_alert(self, policy: EscalationPolicy) -> Alert | None:
        """The next alert this clock will raise if nothing changes; None after the last."""
        if self.level is Level.NONE:
            return Alert(self.yellow_at, Level.YELLOW, 0)
        if self.level is Level.YELLOW:
            return Alert(self.due_at, Level.RED, 0)
        reminder = self._reminder(policy)
        if self.level is Level.RED and self.legal_due_at is not None:
            # Red reminders until the legal deadline, whichever comes first.
            legal = Alert(self.legal_due_at, Level.LEGAL, 0)
            if reminder is None or legal.due <= reminder.due:
                return legal
        return reminder

    def _reminder(self, policy: EscalationPolicy) -> Alert | None:
        """The next reminder (督办) of the current level, from its own deadline."""
        if self.escalations >= policy.max_escalations:
            return None
        step = timedelta(hours=policy.escalation_hours)
        since = self.legal_due_at if self.level is Level.LEGAL else self.due_at
        assert since is not None  # LEGAL is raised only on a clock with a legal deadline
        return Alert(since + step * (self.escalations + 1), self.level, self.escalations + 1)

    def raise_alert(self, alert: Alert) -> None:
        self.level = alert.level
        self.escalations = alert.escalation
        self.version += 1


def highest_level(clocks: list[SupervisionClock]) -> Level:
    return max((clock.level for clock in clocks), key=lambda level: level.rank, default=Level.NONE)
