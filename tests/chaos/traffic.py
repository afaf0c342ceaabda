"""The load during fault injection: an integrator submitting, departments deciding.

Both behave as real clients do when the system is partly down: a submission is retried
with the same Idempotency-Key until intake answers it (connection refused, 429 and 503
are all "try again"); a decision is retried until the task shows as decided. An
application counts as accepted once intake has answered 201 (or replayed that answer).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from onceonly.platform.auth import issue_staff_token

# The GB 11643-1999 example: a valid resident ID number.
RESIDENT_ID = "11010519491231002X"
# Two matters: one department (natural days) and a four-department bundle (working days).
MATTERS: dict[str, dict[str, Any]] = {
    "household-transfer": {
        "departments": ["public-security"],
        "materials": ["transfer-application", "resident-id", "housing-proof", "household-register"],
        "form": {"from_district": "上城区", "to_district": "西湖区", "reason": "购房迁入"},
    },
    "birth-of-child": {
        "departments": ["health", "public-security", "medical-insurance", "human-resources"],
        "materials": [
            "birth-registration-form",
            "parents-id",
            "marriage-certificate",
            "household-register",
            "child-photo",
        ],
        "form": {"child_name": "张小明", "birth_date": "2026-11-30"},
    },
}
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


def application(matter: str) -> dict[str, Any]:
    spec = MATTERS[matter]
    return {
        "matter_code": matter,
        "applicant": {"kind": "person", "name": "张伟", "identifier": RESIDENT_ID},
        "contact": {"mobile": "13812345678", "channels": ["sms"], "language": "zh"},
        "materials": [
            {"code": code, "reference": f"dms://chaos/{uuid.uuid4().hex[:8]}/{code}.pdf"}
            for code in spec["materials"]
        ],
        "form": spec["form"],
    }


@dataclass
class Accepted:
    code: str
    matter: str
    pending: set[str]


@dataclass
class Traffic:
    intake: str
    workflow: str
    api_key: str
    signing_secret: str
    accepted: dict[str, Accepted] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    decided: int = 0
    submitting: bool = True

    def _staff(self, department: str) -> dict[str, str]:
        token = issue_staff_token(
            self.signing_secret,
            staff_id=f"chaos-{department}",
            department_code=department,
            roles=("reviewer",),
        )
        return {"Authorization": f"Bearer {token}"}

    async def submit_one(self, http: httpx.AsyncClient, matter: str, give_up_at: float) -> None:
        body = application(matter)
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": str(uuid.uuid4())}
        while time.monotonic() < give_up_at:
            try:
                answer = await http.post(
                    f"{self.intake}/v1/applications", json=body, headers=headers
                )
            except httpx.HTTPError as exc:
                self.retries[f"submit:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.5)
                continue
            if answer.status_code in (200, 201):
                code = answer.json()["application_code"]
                self.accepted[code] = Accepted(code, matter, set(MATTERS[matter]["departments"]))
                return
            if answer.status_code not in RETRYABLE:
                raise RuntimeError(
                    f"intake refused a valid application: {answer.status_code} {answer.text}"
                )
            self.retries[f"submit:{answer.status_code}"] += 1
            await asyncio.sleep(0.5)
        raise RuntimeError("a submission was not answered before the run's deadline")

    async def submit(self, count: int, rate: float, within: float) -> None:
        """`count` applications at `rate` per second (open loop: a slow answer delays none)."""
        give_up_at = time.monotonic() + within
        async with httpx.AsyncClient(timeout=10.0) as http:
            started = time.monotonic()
            tasks = []
            for n in range(count):
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
                matter = "birth-of-child" if n % 3 == 0 else "household-transfer"
                tasks.append(asyncio.create_task(self.submit_one(http, matter, give_up_at)))
            await asyncio.gather(*tasks)
        self.submitting = False

    async def decide(self, stop: asyncio.Event) -> None:
        """Approve every open task of every accepted application until told to stop."""
        rng = random.Random(7)
        async with httpx.AsyncClient(timeout=10.0) as http:
            while not stop.is_set():
                work = [(a, d) for a in list(self.accepted.values()) for d in sorted(a.pending)]
                rng.shuffle(work)
                for start in range(0, len(work), 8):
                    batch = work[start : start + 8]
                    await asyncio.gather(*(self._decide_one(http, a, d) for a, d in batch))
                    if stop.is_set():
                        return
                await asyncio.sleep(0.5)

    async def _decide_one(self, http: httpx.AsyncClient, app: Accepted, department: str) -> None:
        headers = self._staff(department)
        try:
            got = await http.get(f"{self.workflow}/v1/applications/{app.code}", headers=headers)
            if got.status_code != 200:
                self.retries[f"decide-read:{got.status_code}"] += 1
                return
            task = next(t for t in got.json()["tasks"] if t["department_code"] == department)
            if task["state"] == "approved":
                app.pending.discard(department)
                return
            if task["state"] != "open":
                return
            answer = await http.post(
                f"{self.workflow}/v1/applications/{app.code}/tasks/{department}/decision",
                json={"outcome": "approved"},
                headers=headers,
            )
        except httpx.HTTPError as exc:
            self.retries[f"decide:{type(exc).__name__}"] += 1
            return
        if answer.status_code == 200:
            app.pending.discard(department)
            self.decided += 1
        else:
            # A lost answer to a decision that was recorded shows as approved next time.
            self.retries[f"decide:{answer.status_code}"] += 1

    @property
    def undecided(self) -> int:
        return sum(len(a.pending) for a in self.accepted.values())
