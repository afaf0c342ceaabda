"""Event ids from an event's place in its application, not from the order of calls.

The workflow's events used to take `workflow.uuid4()`: the n-th id of the run's seeded
sequence. When Temporal loses a workflow task whose local activity had already
published (the dev server killed between the two), the run continues from the last
task Temporal kept, and what happens next may happen in another order (other
departments' decisions first). The n-th id then goes to a different event: a fault
injection run saw a department's decision republished under a new id (its SMS sent
twice) while another department's decision took the old id and was dropped downstream
as a duplicate (lost from the timeline).

Here the id is a name-based UUID of (application, event type, department, occurrence):
the first decision of a department's task has one id however often and in whatever
order it is executed, and no other event can take it.
"""

from __future__ import annotations

import uuid

# Fixed for ever: changing it changes every id (uuid5 of the DNS name below).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "events.onceonly")


def event_key(ce_type: str, department_code: str = "") -> str:
    """What counts occurrences: the type, per department for departments' events."""
    return f"{ce_type}/{department_code}"


def logical_event_id(application_code: str, key: str, occurrence: int) -> str:
    """The id of the `occurrence`-th (from 1) event with `key` in an application."""
    if occurrence < 1:
        raise ValueError("occurrences count from 1")
    return str(uuid.uuid5(NAMESPACE, f"{application_code}/{key}/{occurrence}"))
