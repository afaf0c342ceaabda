"""The approval's states and one pure fold of its events (see DOMAIN.md's terms).

`states`: where an application and a department's task stand, the outcomes that move
them, the supervision levels (and the workflow's wire names of the states). `views`:
the typed status the fold produces. `fold`: the fold itself.
"""

from onceonly.approval.fold import fold
from onceonly.approval.states import (
    FINISHED,
    TASK_FINISHED,
    AcceptanceOutcome,
    ApplicationState,
    Decision,
    PauseReason,
    SpecialProcedureKind,
    StepKind,
    SupervisionLevel,
    TaskState,
)
from onceonly.approval.views import (
    RECENT_STEPS,
    Alert,
    ApprovalStatus,
    Clock,
    PausedInterval,
    Step,
    TaskView,
)

__all__ = [
    "FINISHED",
    "RECENT_STEPS",
    "TASK_FINISHED",
    "AcceptanceOutcome",
    "Alert",
    "ApplicationState",
    "ApprovalStatus",
    "Clock",
    "Decision",
    "PauseReason",
    "PausedInterval",
    "SpecialProcedureKind",
    "Step",
    "StepKind",
    "SupervisionLevel",
    "TaskState",
    "TaskView",
    "fold",
]
