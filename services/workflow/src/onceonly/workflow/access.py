"""Who may reach an application, or one of its tasks, through the department API.

The pure rule behind the API's one answer to every "not yours": an unknown application,
an application in which the caller's department has no task, and another department's
task all get the same 404, so that the register (sequential codes) cannot be walked and
a department learns nothing of applications it has no part in.
"""

from __future__ import annotations

from collections.abc import Collection

from onceonly.platform.auth import StaffIdentity, may_see_application, sees_every_application

WINDOW = "window"


def may_reach(
    who: StaffIdentity,
    *,
    departments: Collection[str],
    lead_department: str | None,
    task_department: str | None = None,
    lead_operation: bool = False,
) -> bool:
    """Whether `who` may reach an application whose tasks are (or were) of `departments`,
    and, with `task_department`, that department's task of it.

    A department reaches its own task; another department's task only in an operation of
    the lead department (`lead_operation`: a return for re-review, a removal) when `who`
    is of the matter's lead department, or has the full view (the supervision office may
    remove a department). Whether the operation is then allowed is the workflow's to say
    (its validators); this only decides between that answer and "not found"."""
    if not may_see_application(who, departments):
        return False
    if task_department is None or task_department == who.department_code:
        return True
    if not lead_operation:
        return False
    is_lead = lead_department is not None and who.department_code == lead_department
    return is_lead or sees_every_application(who)


def may_review(who: StaffIdentity) -> bool:
    """Window staff (受理窗口) reach every application at acceptance: none of its tasks
    is theirs; the workflow says whether it still waits for them."""
    return WINDOW in who.roles
