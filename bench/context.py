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
    # Applications submitted through the running system, by phase: what the drain-and-
    # clean step waits for (and terminates, if still running) at the end.
    accepted: dict[str, list[Accepted]] = field(default_factory=dict)
    # The scratch relay's publish lag per intake phase (bench.publish_lag), measured by
    # the intake benchmark while its scratch intake still ran; the relay benchmark
    # reports it.
    publish_lag: dict[str, dict[str, object]] = field(default_factory=dict)
    # Codes of `accepted` the drain-and-clean step has dealt with already.
    cleaned: set[str] = field(default_factory=set)

    @property
    def topic_prefix(self) -> str:
        """The scratch namespace of this run's topics (deleted at the end)."""
        return self.plan.run_id

    def step(self, description: str) -> Stepper:
        return Stepper(self.progress, self.progress.add_task(description, total=1.0))

    def submitter(self, phase: str, statuses: dict[int | str, int]) -> Send:
        """A `Send` that submits one application through the running intake and records
        it in `accepted`."""
        return submitter(
            self.http,
            url=self.endpoints.intake,
            keys=self.keys,
            run_id=self.plan.run_id,
            found=self.accepted.setdefault(phase, []),
            statuses=statuses,
        )


def submitter(
    http: aiohttp.ClientSession,
    *,
    url: str,
    keys: BenchKeys,
    run_id: str,
    found: list[Accepted],
    statuses: dict[int | str, int],
) -> Send:
    """A `Send` that submits one application to the intake at `url` and appends what it
    accepted to `found`."""
    body = json.dumps(loan_application(run_id)).encode()
    endpoint = f"{url}/v1/applications"

    async def send(i: int) -> bool:
        headers = {
            "Authorization": f"Bearer {keys.token(i)}",
            "Content-Type": "application/json",
        }
        try:
            async with http.post(endpoint, data=body, headers=headers) as answer:
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
