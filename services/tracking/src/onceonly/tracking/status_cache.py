"""The status rows this process last wrote, so that a batch need not read them back.

A status row is the fold of its timeline (status.py), and every append that changes it
moves the chain head under the head's lock. A status this process folded up to a head
is therefore still the row's while the locked head is that head: `lookup` gives it
only then, and any other process's append (another agent replica, a single-event
append) shows as a different head and a miss. Entries are put only after their
transaction committed, and a bounded number are kept, the least recently used leaving
first.

The rows' other writers do not move the head: a rebuild (`rebuild_status`) writes the
same fold, and forgets what it rebuilt in its own process; a dropped row (projection
deleted, not rebuilt yet) is written again from the cached fold, which is what a
rebuild would write.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from onceonly.tracking.status import ApplicationStatus

# A chain head: its last sequence number and hash.
Head = tuple[int, str]

# About 2,000 applications move through an agent per minute at the system's ceiling, and
# an application's events come within about a minute of each other: 4,096 statuses
# (a few kB each) cover them.
DEFAULT_CAPACITY = 4096


class StatusCache:
    """Statuses by application code, each with the head it was folded up to."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[Head, ApplicationStatus]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, heads: Mapping[str, Head]) -> tuple[dict[str, ApplicationStatus], list[str]]:
        """The cached statuses of `heads`' applications folded up to exactly that head,
        and the codes of the others (to be read from their rows), in `heads`' order."""
        found: dict[str, ApplicationStatus] = {}
        missing: list[str] = []
        for code, head in heads.items():
            entry = self._entries.get(code)
            if entry is not None and entry[0] == head:
                self._entries.move_to_end(code)
                found[code] = entry[1]
            else:
                missing.append(code)
        return found, missing

    def remember(
        self, heads: Mapping[str, Head], statuses: Mapping[str, ApplicationStatus]
    ) -> None:
        """After a commit: each application's status as of its new head."""
        for code, status in statuses.items():
            self._entries[code] = (heads[code], status)
            self._entries.move_to_end(code)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, codes: Iterable[str]) -> None:
        for code in codes:
            self._entries.pop(code, None)
