"""Drain and clean: after a benchmark that submitted applications through the running
system, wait (bounded by the plan's settle time) until their workflows have closed (the
bench's loan application is auto-approved, so each completes on its own) and the system
is quiet, then terminate those of them still running, so that the run leaves no work
behind for the running system (a `make demo` right after it is not queued behind it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from bench.context import Run
from bench.quiesce import wait_until_quiet
from onceonly.workflow.payload_codec import EncryptionCodec, data_converter
from onceonly.workflow.shared import WORKFLOW_NAME

POLL_SECONDS = 3.0


@dataclass(frozen=True)
class Tally:
    """Where the run's applications are: workflow closed, running, or not started yet
    (still in the bridge's backlog)."""

    closed: frozenset[str]
    running: frozenset[str]
    not_started: frozenset[str]

    @property
    def settled(self) -> bool:
        return not self.running and not self.not_started


def tally(codes: Iterable[str], statuses: Mapping[str, WorkflowExecutionStatus | None]) -> Tally:
    """Sort `codes` (workflow ids) by the status Temporal reports for each."""
    closed: set[str] = set()
    running: set[str] = set()
    not_started: set[str] = set()
    for code in codes:
        status = statuses.get(code)
        if code not in statuses:
            not_started.add(code)
        elif status is None or status == WorkflowExecutionStatus.RUNNING:
            running.add(code)
        else:
            closed.add(code)
    return Tally(frozenset(closed), frozenset(running), frozenset(not_started))


def add_up(reports: Iterable[Mapping[str, float | int]]) -> dict[str, float | int]:
    """The run's cleanup from those after each benchmark: each figure summed."""
    total: dict[str, float | int] = {"waited_s": 0.0, "completed": 0, "terminated": 0}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    total["waited_s"] = round(float(total["waited_s"]), 1)
    return total


async def _statuses(
    client: Client, codes: set[str], since: datetime
) -> dict[str, WorkflowExecutionStatus | None]:
    query = f"WorkflowType = '{WORKFLOW_NAME}' AND StartTime >= '{since.isoformat()}'"
    found: dict[str, WorkflowExecutionStatus | None] = {}
    async for execution in client.list_workflows(query, page_size=1000):
        if execution.id in codes:
            found[execution.id] = execution.status
    return found


async def connect(run: Run) -> Client:
    """A client as the bridge's: payloads encrypted under the PII keys."""
    settings = run.endpoints.settings
    codec = EncryptionCodec.from_pii_keys(settings.pii_keys.get_secret_value())
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(codec),
    )


async def drain_and_clean(
    run: Run, codes: set[str], *, since: float, what: str, wait: bool = True
) -> dict[str, object]:
    """Wait until the workflows of `codes` (submitted from `since`, wall clock) have
    closed and the system is quiet, at most the plan's settle time in all; terminate
    those still running then (at once without `wait`). What happened, for the results'
    `cleanup`."""
    begin = time.monotonic()
    within = run.plan.settle_seconds if wait else 0.0
    client = await connect(run)
    started_from = datetime.fromtimestamp(since - 60.0, UTC)
    quiet: dict[str, float | bool] = {"quiet": False}
    if wait:
        step = run.step(f"{what}: {len(codes):,} applications of the run completing")
        while True:
            now = tally(codes, await _statuses(client, codes, started_from))
            step(len(now.closed) / max(1, len(codes)))
            if now.settled or time.monotonic() - begin >= within:
                break
            await asyncio.sleep(POLL_SECONDS)
        step.done()
        left = max(0.0, within - (time.monotonic() - begin))
        quiet = await wait_until_quiet(run, within=max(left, 10.0), what=what)
    # Once more: some closed while the system quietened.
    now = tally(codes, await _statuses(client, codes, started_from))
    terminated = 0
    for code in sorted(now.running):
        try:
            await client.get_workflow_handle(code).terminate(
                reason=f"benchmark {run.plan.run_id}: cleanup after the run"
            )
            terminated += 1
        except RPCError:
            pass  # closed meanwhile
    return {
        "applications": len(codes),
        "waited_s": round(time.monotonic() - begin, 1),
        "completed": len(now.closed),
        "terminated": terminated,
        # Never started (the bridge's backlog): they will start and complete on their own.
        "not_started": len(now.not_started),
        "quiet": quiet["quiet"],
    }
