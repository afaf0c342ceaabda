"""How the case workflows publish (workflow code, deterministic): one activity per event,
its id from the run's seeded sequence, with the case as of the event for the list."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from onceonly.workflow.case_shared import CaseActor, CaseEvent, CasePublish

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


def jsonable(value: Any) -> Any:
    """A dataclass's dict (or any value) with its times as ISO 8601 strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def actor(who: CaseActor | None) -> dict[str, str]:
    """The event's actor: the staff member, or the workflow itself."""
    if who is None:
        return {"kind": "system", "id": "workflow"}
    return {"kind": "staff", "id": who.staff_id, "department_code": who.staff_department}


async def publish_case_event(
    kind: str,
    type_: str,
    *,
    application_code: str,
    view: Any,
    fields: dict[str, Any],
) -> None:
    event = CaseEvent(
        event_id=str(workflow.uuid4()),
        type=type_,
        application_code=application_code,
        at=workflow.now(),
        fields=jsonable(fields),
    )
    await workflow.execute_activity(
        "publish_case_event",
        CasePublish(event=event, kind=kind, view=jsonable(asdict(view))),
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=RETRY,
    )
