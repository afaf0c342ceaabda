"""What every benchmark is given: endpoints, the plan, keys, clients, the progress bar."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import aiohttp
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
    http: aiohttp.ClientSession
    monitor: ProcessMonitor
    progress: Progress
    accepted: dict[str, list[Accepted]] = field(default_factory=dict)

    @property
    def topic_prefix(self) -> str:
        """The scratch namespace of this run's topics (deleted at the end)."""
        return self.plan.run_id

    def step(self, description: str) -> Stepper:
        return Stepper(self.progress, self.progress.add_task(description, total=1.0))

    def submitter(self, phase: str, statuses: dict[int | str, int]) -> Send:
        """A `Send` that submits one application through intake and records it."""
        body = json.dumps(loan_application(self.plan.run_id)).encode()
        found = self.accepted.setdefault(phase, [])
        url = f"{self.endpoints.intake}/v1/applications"

        async def send(i: int) -> bool:
            headers = {
                "Authorization": f"Bearer {self.keys.token(i)}",
                "Content-Type": "application/json",
            }
            try:
                async with self.http.post(url, data=body, headers=headers) as answer:
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1
                    payload = await answer.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Counted by kind (next to the HTTP statuses), then a failed request.
                name = type(exc).__name__
                statuses[name] = statuses.get(name, 0) + 1
                raise
            if answer.status != 201:
                return False
            found.append(Accepted(json.loads(payload)["application_code"], time.time()))
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
