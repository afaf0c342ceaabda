"""What every benchmark is given: endpoints, the plan, keys, clients, the progress bar."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from rich.progress import Progress, TaskID

from bench.config import Endpoints, Plan
from bench.integrators import BenchKeys
from bench.load import Send
from bench.monitor import ProcessMonitor
from bench.payloads import loan_application


@dataclass
class Accepted:
    """An application intake accepted during the run: its code and when (wall clock)."""

    code: str
    at: float


@dataclass
class Run:
    endpoints: Endpoints
    plan: Plan
    keys: BenchKeys
    http: httpx.AsyncClient
    monitor: ProcessMonitor
    progress: Progress
    accepted: dict[str, list[Accepted]] = field(default_factory=dict)

    @property
    def topic_prefix(self) -> str:
        """The scratch namespace of this run's topics (deleted at the end)."""
        return self.plan.run_id

    def step(self, description: str) -> Stepper:
        return Stepper(self.progress, self.progress.add_task(description, total=1.0))

    def submitter(self, phase: str, statuses: dict[int, int]) -> Send:
        """A `Send` that submits one application through intake and records it."""
        body = loan_application(self.plan.run_id)
        found = self.accepted.setdefault(phase, [])
        url = f"{self.endpoints.intake}/v1/applications"

        async def send(i: int) -> bool:
            answer = await self.http.post(
                url, json=body, headers={"Authorization": f"Bearer {self.keys.token(i)}"}
            )
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code != 201:
                return False
            found.append(Accepted(answer.json()["application_code"], time.time()))
            return True

        return send


@dataclass
class Stepper:
    progress: Progress
    task: TaskID

    def __call__(self, fraction: float) -> None:
        self.progress.update(self.task, completed=min(1.0, fraction))

    def done(self) -> None:
        self.progress.update(self.task, completed=1.0)
