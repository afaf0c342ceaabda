"""The names of the approval: where an application and each department's task stand,
the outcomes that move them, and the supervision levels. Pure.

One vocabulary for the workflow, intake and tracking, in DOMAIN.md's English terms.
The values are the ones intake and tracking have always shown and stored (their API
responses, `intake.approval_status`, `tracking.application_status`).

The workflow named three of these differently before this module existed, and those
names are on its own wire: in Temporal histories (workflow and update results), in the
answers of its queries and in the department API's JSON. They stay stable there:
`workflow_value` gives the name the workflow has always used for a state and
`from_workflow_value` reads it back. The member names of `AcceptanceOutcome`,
`Decision` and `SupervisionLevel` are those of the protobuf enums without their prefix
(ACCEPTANCE_OUTCOME_, DECISION_OUTCOME_, SUPERVISION_LEVEL_), which is how the
workflow's event mapping finds the protobuf number of a member.
"""

from __future__ import annotations

from enum import StrEnum

from onceonly.events.v1 import approval_pb2, supervision_pb2


class ApplicationState(StrEnum):
    """Where an application stands (办件状态), in the order it moves forward."""

    # Events of the application were recorded, but not its submission yet (tracking
    # reads several topics: an alert or a notification may come first).
    UNKNOWN = "unknown"
    SUBMITTED = "submitted"  # waiting for acceptance (受理)
    SUPPLEMENT_REQUESTED = "supplement_requested"  # 补正: waiting for the applicant
    ACCEPTED = "accepted"  # in approval (并联审批)
    ACCEPTED_WITH_DEFICIENCY = "accepted_with_deficiency"  # 容缺受理: in approval
    REFUSED = "refused"  # 不予受理
    COMPLETED = "completed"  # 办结: every task approved
    REJECTED = "rejected"  # 不予许可: a task rejected
    WITHDRAWN = "withdrawn"  # 撤回

    @property
    def rank(self) -> int:
        """How far along: an application never moves to a lower rank."""
        return _APPLICATION_RANK[self]

    @property
    def finished(self) -> bool:
        """Finished applications never change again."""
        return self.rank == _FINISHED_RANK

    @property
    def workflow_value(self) -> str:
        """The name the workflow uses on its wire (histories, queries, department API)."""
        return _WORKFLOW_APPLICATION.get(self, self.value)

    @classmethod
    def from_workflow_value(cls, value: str) -> ApplicationState:
        """The state a workflow name stands for; `in_approval` does not say whether
        something was deficient, and reads as `accepted`."""
        return _FROM_WORKFLOW_APPLICATION.get(value) or cls(value)


class TaskState(StrEnum):
    """Where a department's task (审批环节) stands."""

    STARTED = "started"  # open: the department is deciding
    SUPPLEMENT_REQUESTED = "supplement_requested"  # its clock waits for the applicant
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # another department rejected, or the applicant withdrew

    @property
    def finished(self) -> bool:
        """Finished tasks never change again."""
        return self in TASK_FINISHED

    @property
    def workflow_value(self) -> str:
        """The name the workflow uses on its wire (histories, queries, department API)."""
        return "open" if self is TaskState.STARTED else self.value

    @classmethod
    def from_workflow_value(cls, value: str) -> TaskState:
        return cls.STARTED if value == "open" else cls(value)


class AcceptanceOutcome(StrEnum):
    """The outcome of acceptance (受理), as ApplicationAccepted carries it."""

    ACCEPTED = "accepted"
    ACCEPTED_WITH_DEFICIENCY = "accepted_with_deficiency"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    REFUSED = "refused"

    @property
    def application_state(self) -> ApplicationState:
        return ApplicationState(self.value)

    @classmethod
    def of_protobuf(cls, number: int) -> AcceptanceOutcome | None:
        """None for UNSPECIFIED and numbers this code does not know."""
        return _ACCEPTANCE.get(number)


class Decision(StrEnum):
    """A department's decision (审批决定) on its task, as TaskDecided carries it."""

    APPROVED = "approved"
    REJECTED = "rejected"
    SUPPLEMENT_REQUESTED = "supplement_requested"

    @property
    def task_state(self) -> TaskState:
        return TaskState(self.value)

    @classmethod
    def of_protobuf(cls, number: int) -> Decision | None:
        """None for UNSPECIFIED and numbers this code does not know."""
        return _DECISION.get(number)


class SupervisionLevel(StrEnum):
    """E-supervision (电子监察) levels, in rising order."""

    NONE = "none"
    YELLOW = "yellow"
    RED = "red"  # the committed limit (承诺时限) is exceeded
    LEGAL = "legal"  # the legal limit (法定时限) is exceeded too (超法定时限)

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]

    @classmethod
    def of_protobuf(cls, number: int) -> SupervisionLevel | None:
        """None for UNSPECIFIED and numbers this code does not know."""
        return _LEVEL.get(number)


class SpecialProcedureKind(StrEnum):
    """Special procedures (特别程序): their time does not count against the limit."""

    EXPERT_REVIEW = "expert_review"
    HEARING = "hearing"
    PUBLIC_NOTICE = "public_notice"
    ON_SITE_INSPECTION = "on_site_inspection"


class StepKind(StrEnum):
    """A step of an application as its applicant is told of it (the progress lookup's
    "last steps"): what happened, never who did it or in whose words."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    ACCEPTED_WITH_DEFICIENCY = "accepted_with_deficiency"
    SUPPLEMENT_REQUESTED = "supplement_requested"  # at acceptance (补正)
    REFUSED = "refused"
    TASK_STARTED = "task_started"  # a department began its review
    TASK_APPROVED = "task_approved"
    TASK_REJECTED = "task_rejected"
    TASK_SUPPLEMENT_REQUESTED = "task_supplement_requested"
    SUPPLEMENT_RECEIVED = "supplement_received"
    SPECIAL_PROCEDURE_STARTED = "special_procedure_started"  # detail: its kind
    SPECIAL_PROCEDURE_ENDED = "special_procedure_ended"
    EXTENDED = "extended"
    RETURNED = "returned"  # sent back for re-review
    DEPARTMENT_ADDED = "department_added"
    DEPARTMENT_REMOVED = "department_removed"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class PauseReason(StrEnum):
    """Why a task's clock stood still (a closed pause's reason names the procedure's
    kind after a colon: `special_procedure:hearing`)."""

    SUPPLEMENT = "supplement"
    SPECIAL_PROCEDURE = "special_procedure"


_FINISHED_RANK = 3
_APPLICATION_RANK = {
    ApplicationState.UNKNOWN: 0,
    ApplicationState.SUBMITTED: 1,
    ApplicationState.SUPPLEMENT_REQUESTED: 2,
    ApplicationState.ACCEPTED: 2,
    ApplicationState.ACCEPTED_WITH_DEFICIENCY: 2,
    ApplicationState.REFUSED: _FINISHED_RANK,
    ApplicationState.COMPLETED: _FINISHED_RANK,
    ApplicationState.REJECTED: _FINISHED_RANK,
    ApplicationState.WITHDRAWN: _FINISHED_RANK,
}
FINISHED: frozenset[ApplicationState] = frozenset(
    state for state in ApplicationState if state.rank == _FINISHED_RANK
)
TASK_FINISHED: frozenset[TaskState] = frozenset(
    {TaskState.APPROVED, TaskState.REJECTED, TaskState.CANCELLED}
)

_WORKFLOW_APPLICATION = {
    ApplicationState.SUBMITTED: "acceptance",
    ApplicationState.SUPPLEMENT_REQUESTED: "awaiting_supplement",
    ApplicationState.ACCEPTED: "in_approval",
    ApplicationState.ACCEPTED_WITH_DEFICIENCY: "in_approval",
}
_FROM_WORKFLOW_APPLICATION = {
    "acceptance": ApplicationState.SUBMITTED,
    "awaiting_supplement": ApplicationState.SUPPLEMENT_REQUESTED,
    "in_approval": ApplicationState.ACCEPTED,
}

_ACCEPTANCE = {
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED: AcceptanceOutcome.ACCEPTED,
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY: (
        AcceptanceOutcome.ACCEPTED_WITH_DEFICIENCY
    ),
    approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED: AcceptanceOutcome.SUPPLEMENT_REQUESTED,
    approval_pb2.ACCEPTANCE_OUTCOME_REFUSED: AcceptanceOutcome.REFUSED,
}
_DECISION = {
    approval_pb2.DECISION_OUTCOME_APPROVED: Decision.APPROVED,
    approval_pb2.DECISION_OUTCOME_REJECTED: Decision.REJECTED,
    approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED: Decision.SUPPLEMENT_REQUESTED,
}
_LEVEL = {
    supervision_pb2.SUPERVISION_LEVEL_NONE: SupervisionLevel.NONE,
    supervision_pb2.SUPERVISION_LEVEL_YELLOW: SupervisionLevel.YELLOW,
    supervision_pb2.SUPERVISION_LEVEL_RED: SupervisionLevel.RED,
    supervision_pb2.SUPERVISION_LEVEL_LEGAL: SupervisionLevel.LEGAL,
}
_LEVEL_RANK = {
    SupervisionLevel.NONE: 0,
    SupervisionLevel.YELLOW: 1,
    SupervisionLevel.RED: 2,
    SupervisionLevel.LEGAL: 3,
}
