"""What a benchmark run talks to and how hard it pushes (quick and full modes)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from onceonly.platform.settings import PlatformSettings

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PIDS = REPO / ".run" / "pids"


def _url(port_variable: str, default: int) -> str:
    return f"http://127.0.0.1:{os.environ.get(port_variable, default)}"


@dataclass(frozen=True)
class Endpoints:
    """The running local system (deploy/local/env), on loopback only."""

    intake: str = field(default_factory=lambda: _url("ONCEONLY_INTAKE_PORT", 8000))
    workflow: str = field(default_factory=lambda: _url("ONCEONLY_WORKFLOW_API_PORT", 8001))
    tracking: str = field(default_factory=lambda: _url("ONCEONLY_TRACKING_PORT", 8002))
    notify: str = field(default_factory=lambda: _url("ONCEONLY_NOTIFY_PORT", 8003))
    settings: PlatformSettings = field(default_factory=PlatformSettings)

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def kafka(self) -> str:
        return self.settings.kafka_bootstrap

    @property
    def topic_prefix(self) -> str:
        return self.settings.topic_prefix


@dataclass(frozen=True)
class Plan:
    """The load of each benchmark; `quick` is bounded to a few minutes in all."""

    mode: str
    intake_rate: int  # offered load of the open-loop phase, requests/s
    intake_seconds: float  # length of each intake phase
    concurrency: int  # closed-loop clients (and raw asyncpg workers)
    relay_messages: int  # raw produce: messages sent
    e2e_rate: int  # applications/s for the end-to-end phase
    e2e_seconds: float
    # workflow: applications submitted at once, whose workflow starts give the bridge's
    # start rate (bounded, so that the running system drains them within minutes)
    burst_applications: int
    drain_rate: int  # applications/s submitted while the tracking agent is stopped
    drain_seconds: float
    temporal_starts: int  # empty workflows started for the raw Temporal rate
    open_tasks: int  # supervision: tasks open during the run
    due_tasks: int  # supervision: those of them whose deadline falls inside the run
    deadline_spread: float  # seconds over which those deadlines fall
    # the most any drain is waited for (the run's cleanup too, after each benchmark)
    settle_seconds: float
    quiesce_seconds: float  # the most the system is waited for to be idle before each
    profile_seconds: float  # length of a profile taken when a target is missed
    run_id: str = field(default_factory=lambda: time.strftime("bench%Y%m%d%H%M%S"))


def plan(
    *,
    quick: bool,
    open_tasks: int | None = None,
    due_tasks: int | None = None,
    deadline_spread: float | None = None,
    e2e_rate: int | None = None,
) -> Plan:
    """The plan; by default every open task of the supervision benchmark falls due in the
    run (a burst). `due_tasks` keeps the population open while fewer fall due, over
    `deadline_spread` seconds."""
    if quick:
        return Plan(
            mode="quick",
            intake_rate=500,
            intake_seconds=5,
            concurrency=32,
            relay_messages=5_000,
            e2e_rate=e2e_rate or 15,
            e2e_seconds=10,
            burst_applications=200,
            drain_rate=20,
            drain_seconds=10,
            temporal_starts=500,
            open_tasks=open_tasks or 1_000,
            due_tasks=min(due_tasks or open_tasks or 1_000, open_tasks or 1_000),
            deadline_spread=deadline_spread or 10,
            settle_seconds=120,
            quiesce_seconds=600,
            profile_seconds=8,
        )
    return Plan(
        mode="full",
        intake_rate=500,
        intake_seconds=30,
        concurrency=64,
        relay_messages=20_000,
        e2e_rate=e2e_rate or 15,
        e2e_seconds=30,
        burst_applications=1_000,
        drain_rate=20,
        drain_seconds=30,
        temporal_starts=2_000,
        open_tasks=open_tasks or 10_000,
        due_tasks=min(due_tasks or open_tasks or 10_000, open_tasks or 10_000),
        deadline_spread=deadline_spread or 30,
        settle_seconds=600,
        quiesce_seconds=1800,
        profile_seconds=20,
    )
