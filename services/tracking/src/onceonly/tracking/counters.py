"""Live counters per department, kept by the agent in a faust table.

Each recorded event moves an application's status projection from `before` to `after`;
the counters are the per-department difference: tasks started, tasks completed
(approved or rejected) and the change in open yellow, red and legal alerts. Summed over a whole
stream they equal what the projection shows. The supervision figures stay computed in
Postgres; these are the live view.

A table key is one department as seen from one source topic partition (`topic|partition|
department`): each key is then changed from one partition only, so faust's changelog
(written to the source partition) restores it exactly, and the value carries the offset
of the last message counted in it. A message redelivered after a crash is counted once
in each key: if its offset is at or below the key's offset it was counted already.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from onceonly.approval import ApprovalStatus, SupervisionLevel, TaskState

COUNTERS = ("started", "completed", "open_yellow", "open_red", "open_legal")
_COMPLETED = frozenset({TaskState.APPROVED, TaskState.REJECTED})
_SEPARATOR = "|"


def _open_level(state: ApprovalStatus | None, department: str) -> SupervisionLevel:
    """The task's alert level while it is open (a finished task or application has none)."""
    if state is None or state.finished:
        return SupervisionLevel.NONE
    task = state.tasks.get(department)
    return task.open_level if task is not None else SupervisionLevel.NONE


def deltas(before: ApprovalStatus | None, after: ApprovalStatus) -> dict[str, dict[str, int]]:
    """Per department, the counters this step changed (departments unchanged are left out)."""
    found: dict[str, dict[str, int]] = {}
    earlier = before.tasks if before is not None else {}
    for department, task in after.tasks.items():
        change: dict[str, int] = defaultdict(int)
        previous = earlier.get(department)
        if previous is None:
            change["started"] += 1
        if task.state in _COMPLETED and (previous is None or previous.state not in _COMPLETED):
            change["completed"] += 1
        old, new = _open_level(before, department), _open_level(after, department)
        if old != new:
            if old is not SupervisionLevel.NONE:
                change[f"open_{old}"] -= 1
            if new is not SupervisionLevel.NONE:
                change[f"open_{new}"] += 1
        if any(change.values()):
            found[department] = dict(change)
    return found


def table_key(topic: str, partition: int, department: str) -> str:
    return _SEPARATOR.join((topic, str(partition), department))


def department_of(key: str) -> str:
    return key.split(_SEPARATOR, 2)[2]


def counted(
    current: Mapping[str, Any] | None, offset: int, change: Mapping[str, int]
) -> dict[str, Any] | None:
    """The key's new value after the message at `offset`, or None if it was counted."""
    if current is not None and offset <= current["offset"]:
        return None
    counts = dict(current["counts"]) if current is not None else {}
    for name, value in change.items():
        counts[name] = counts.get(name, 0) + value
    return {"offset": offset, "counts": counts}


def counted_run(
    current: Callable[[str], Mapping[str, Any] | None],
    steps: Iterable[tuple[str, int, Mapping[str, int]]],
) -> dict[str, dict[str, Any]]:
    """The new value of each key that a run of messages changed, as `counted` one message
    after another would leave it: `steps` are (key, offset, change) in offset order, and
    `current` reads a key's value before the run. One write per key, however many messages
    of the run changed it (each write is a record on the table's changelog)."""
    updated: dict[str, dict[str, Any]] = {}
    for key, offset, change in steps:
        value = counted(updated[key] if key in updated else current(key), offset, change)
        if value is not None:
            updated[key] = value
    return updated


def totals(values: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, dict[str, int]]:
    """Counters per department, summed over the table's keys, departments sorted."""
    summed: dict[str, dict[str, int]] = {}
    for key, value in values:
        department = summed.setdefault(department_of(key), dict.fromkeys(COUNTERS, 0))
        for name, number in value["counts"].items():
            department[name] = department.get(name, 0) + number
    return dict(sorted(summed.items()))
