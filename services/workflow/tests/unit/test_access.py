"""The department API's rule for reaching an application or a task (issue 15, item 10):
everything it refuses gets the one 404 of an unknown application."""

from __future__ import annotations

import pytest

from onceonly.platform.auth import StaffIdentity
from onceonly.platform.http import Problem
from onceonly.workflow.access import may_reach
from onceonly.workflow.settings import WorkflowSettings

# The construction joint approval: natural resources leads; fire has a task; tax none.
DEPARTMENTS = ("development-reform", "natural-resources", "fire", "civil-air-defence")
LEAD = "natural-resources"


def staff(department: str, *roles: str) -> StaffIdentity:
    return StaffIdentity(staff_id="s-1", department_code=department, roles=roles or ("reviewer",))


def reach(who: StaffIdentity, task: str | None = None, *, lead_operation: bool = False) -> bool:
    return may_reach(
        who,
        departments=DEPARTMENTS,
        lead_department=LEAD,
        task_department=task,
        lead_operation=lead_operation,
    )


@pytest.mark.parametrize("role", ["reviewer", "department_head"])
def test_a_department_reaches_its_application_and_its_own_task(role: str) -> None:
    fire = staff("fire", role)
    assert reach(fire)
    assert reach(fire, "fire")
    assert reach(fire, "fire", lead_operation=True)  # the workflow then says: not the lead


@pytest.mark.parametrize("role", ["reviewer", "department_head"])
def test_an_application_without_a_task_of_the_department_is_not_reached(role: str) -> None:
    tax = staff("tax", role)
    assert not reach(tax)
    assert not reach(tax, "tax")
    assert not reach(tax, "fire")
    assert not reach(tax, "fire", lead_operation=True)


def test_another_departments_task_is_not_reached() -> None:
    fire = staff("fire")
    for operation in (False, True):
        assert not reach(fire, "civil-air-defence", lead_operation=operation)
    # Its own task's changes are not the lead's operations, even for the lead department.
    assert not reach(staff(LEAD), "fire")


def test_the_lead_department_reaches_every_task_in_its_operations() -> None:
    lead = staff(LEAD, "department_head")
    for department in DEPARTMENTS:
        assert reach(lead, department, lead_operation=True)


def test_no_lead_department_means_no_lead_operation_on_another_task() -> None:
    police = staff("public-security")
    found = may_reach(
        police,
        departments=("public-security", "tax"),
        lead_department=None,
        task_department="tax",
        lead_operation=True,
    )
    assert not found


def test_the_supervision_office_reaches_the_lead_operations_of_any_application() -> None:
    office = staff("market-regulation", "department_head", "supervision")
    assert reach(office)
    assert reach(office, "fire", lead_operation=True)
    assert not reach(office, "fire")  # deciding stays the department's own


def test_the_department_api_refuses_a_department_not_in_the_catalogue() -> None:
    tokens = WorkflowSettings(environment="development").staff_tokens()
    nowhere = tokens.issue(staff_id="x", department_code="no-such-department")
    with pytest.raises(Problem) as refused:
        tokens.verify(nowhere)
    assert refused.value.status == 401
    assert tokens.verify(tokens.issue(staff_id="x", department_code="fire")).roles == ("reviewer",)
