"""The load during fault injection: an integrator submitting, departments deciding.

Both behave as real clients do when the system is partly down: a submission is retried
with the same Idempotency-Key until intake answers it (connection refused, 429 and 503
are all "try again"); a decision is retried until the task shows as decided. An
application counts as accepted once intake has answered 201 (or replayed that answer).

Some applicants change their minds at once: right after the 201, every tenth
application is withdrawn and another tenth gets a supplement (a material the matter
allows to follow later, 容缺), each retried like a submission. The submission and its
update travel on different topics, so the bridge may see the update first (issue 21).
`burst` makes that likely on purpose: while the bridge is down, several applications
are submitted and withdrawn or supplemented at once, so that each one's submission and
update both wait in Kafka for the bridge. Withdrawn applications are never decided; a
supplemented one is decided only once its supplement was answered, so the supplement
always reaches a running application.

Every sixth application (a four-department bundle) also goes through department practice
(issue 14): health asks for an extension and its head approves it, the lead department
(public-security, which waits for all this) adds tax (加签), health approves, the lead
returns health's approval for re-review, and health and tax approve. Each step is retried
like a decision, and a lost answer is recognised from the application's state (extended
days, pending days, tax's task present, health's task reopened).
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

from onceonly.platform.auth import StaffTokens

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
# Department practice on a bundle: who asks for the extension and is returned, and who
# leads (and so returns, and decides last).
PRACTISED = "health"
LEAD = "public-security"
ADDED = "tax"  # the department the lead adds (加签)
# Applicant updates sent right after the 201, in this order.
WITHDRAWAL = "withdrawal"
SUPPLEMENT = "supplement"
# Valid for both matters, and allowed to follow after acceptance (容缺): a supplement of
# a complete application changes no clock and publishes nothing from the workflow.
SUPPLEMENT_MATERIAL = "household-register"
# Steady traffic: application n gets these updates (n % 10), the others none.
STEADY_UPDATES: dict[int, tuple[str, ...]] = {3: (WITHDRAWAL,), 7: (SUPPLEMENT,)}
# A burst while the bridge is down cycles through these.
BURST_UPDATES: tuple[tuple[str, ...], ...] = (
    (WITHDRAWAL,),
    (SUPPLEMENT,),
    (SUPPLEMENT, WITHDRAWAL),
    (WITHDRAWAL,),
)


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


def update_body(kind: str) -> dict[str, Any]:
    if kind == WITHDRAWAL:
        return {"reason": "不再需要 / no longer needed (withdrawn right after submitting)"}
    reference = f"dms://chaos/{uuid.uuid4().hex[:8]}/{SUPPLEMENT_MATERIAL}.pdf"
    return {"materials": [{"code": SUPPLEMENT_MATERIAL, "reference": reference}]}


def matter_of(n: int) -> str:
    return "birth-of-child" if n % 3 == 0 else "household-transfer"


@dataclass
class Accepted:
    code: str
    matter: str
    # Departments still to decide: none until its updates were answered, and none ever
    # for a withdrawn application.
    pending: set[str]
    # The updates sent right after the 201, in order.
    updates: tuple[str, ...] = ()
    # Submitted by a burst while the bridge was down.
    burst: bool = False
    # Goes through an extension and a return of PRACTISED (see the module's docstring).
    practised: bool = False
    extended: bool = False
    added: bool = False
    approved_once: bool = False
    returned: bool = False

    def waits(self, department: str) -> bool:
        """Whether `department` must not be decided yet: the practised department until
        its extension is through, the lead until it has returned that department."""
        if not self.practised:
            return False
        if department == PRACTISED:
            return not self.extended
        return department == LEAD and not self.returned

    @property
    def withdrawn(self) -> bool:
        return WITHDRAWAL in self.updates

    @property
    def supplemented(self) -> bool:
        return SUPPLEMENT in self.updates


@dataclass
class Traffic:
    # Each service's API replicas: requests go to them in turn.
    intakes: list[str]
    workflows: list[str]
    api_key: str
    # The department API's staff tokens (a token is for one API only).
    department_tokens: StaffTokens
    accepted: dict[str, Accepted] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    # Applicant updates intake answered (202), by kind.
    sent: Counter[str] = field(default_factory=Counter)
    decided: int = 0
    submitting: bool = True
    # Department practice done (extensions approved, returns), as the traffic saw it.
    practice: Counter[str] = field(default_factory=Counter)

    turn: int = 0

    def _next(self, replicas: list[str]) -> str:
        self.turn += 1
        return replicas[self.turn % len(replicas)]

    @property
    def intake(self) -> str:
        """The intake API replica for the next request."""
        return self._next(self.intakes)

    @property
    def workflow(self) -> str:
        """The department API replica for the next request."""
        return self._next(self.workflows)

    def _staff(self, department: str, role: str = "reviewer") -> dict[str, str]:
        token = self.department_tokens.issue(
            staff_id=f"chaos-{department}-{role}", department_code=department, roles=(role,)
        )
        return {"Authorization": f"Bearer {token}"}

    async def _post(
        self,
        http: httpx.AsyncClient,
        path: str,
        body: dict[str, Any],
        what: str,
        give_up_at: float,
    ) -> httpx.Response:
        """POST until intake answers 2xx, with one Idempotency-Key for every attempt."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": str(uuid.uuid4())}
        while time.monotonic() < give_up_at:
            try:
                answer = await http.post(f"{self.intake}{path}", json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.retries[f"{what}:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.5)
                continue
            if answer.status_code in (200, 201, 202):
                return answer
            if answer.status_code not in RETRYABLE:
                raise RuntimeError(
                    f"intake refused a valid {what}: {answer.status_code} {answer.text}"
                )
            self.retries[f"{what}:{answer.status_code}"] += 1
            await asyncio.sleep(0.5)
        raise RuntimeError(f"a {what} was not answered before the run's deadline")

    async def submit_one(
        self,
        http: httpx.AsyncClient,
        matter: str,
        give_up_at: float,
        updates: tuple[str, ...] = (),
        *,
        burst: bool = False,
        practised: bool = False,
    ) -> str:
        answer = await self._post(
            http, "/v1/applications", application(matter), "submit", give_up_at
        )
        code = answer.json()["application_code"]
        app = Accepted(code, matter, set(), updates, burst, practised)
        self.accepted[code] = app
        for kind in updates:
            endpoint = "withdrawal" if kind == WITHDRAWAL else "supplements"
            path = f"/v1/applications/{code}/{endpoint}"
            await self._post(http, path, update_body(kind), kind, give_up_at)
            self.sent[kind] += 1
        if not app.withdrawn:
            app.pending = set(MATTERS[matter]["departments"])
        return code

    async def submit(self, count: int, rate: float, within: float) -> None:
        """`count` applications at `rate` per second (open loop: a slow answer delays none)."""
        give_up_at = time.monotonic() + within
        async with httpx.AsyncClient(timeout=10.0) as http:
            started = time.monotonic()
            tasks = []
            for n in range(count):
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
                updates = STEADY_UPDATES.get(n % 10, ())
                practised = n % 6 == 0 and not updates
                tasks.append(
                    asyncio.create_task(
                        self.submit_one(
                            http, matter_of(n), give_up_at, updates, practised=practised
                        )
                    )
                )
            await asyncio.gather(*tasks)
        self.submitting = False

    async def burst(self, count: int, within: float) -> list[str]:
        """`count` applications at once, each withdrawn or supplemented (or both) as soon
        as intake answers it: while the bridge is down, both wait for it in Kafka."""
        give_up_at = time.monotonic() + within
        async with httpx.AsyncClient(timeout=10.0) as http:
            return await asyncio.gather(
                *(
                    self.submit_one(
                        http,
                        matter_of(n),
                        give_up_at,
                        BURST_UPDATES[n % len(BURST_UPDATES)],
                        burst=True,
                    )
                    for n in range(count)
                )
            )

    async def decide(self, stop: asyncio.Event) -> None:
        """Approve every open task of every accepted application until told to stop."""
        rng = random.Random(7)
        async with httpx.AsyncClient(timeout=10.0) as http:
            while not stop.is_set():
                apps = list(self.accepted.values())
                practice = [a for a in apps if a.practised and a.pending and not a.returned]
                for start in range(0, len(practice), 8):
                    batch = practice[start : start + 8]
                    await asyncio.gather(*(self._practise_one(http, a) for a in batch))
                work = [(a, d) for a in apps for d in sorted(a.pending) if not a.waits(d)]
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

    async def _practise_one(self, http: httpx.AsyncClient, app: Accepted) -> None:
        """The next step of department practice on `app`, judged from its task's state."""
        tasks = f"{self.workflow}/v1/applications/{app.code}/tasks/{PRACTISED}"
        try:
            got = await http.get(
                f"{self.workflow}/v1/applications/{app.code}", headers=self._staff(PRACTISED)
            )
            if got.status_code != 200:
                self.retries[f"practice-read:{got.status_code}"] += 1
                return
            task = next(t for t in got.json()["tasks"] if t["department_code"] == PRACTISED)
            if app.extended and not app.added:
                await self._add_department(http, app, got.json()["tasks"])
                return
            if not app.extended:
                if task["extended_days"] > 0:
                    app.extended = True
                elif task["pending_extension_days"] > 0:
                    answer = await http.post(
                        f"{tasks}/extension/decision",
                        json={"approved": True, "note": "同意"},
                        headers=self._staff(PRACTISED, "department_head"),
                    )
                    app.extended = answer.status_code == 200
                else:
                    answer = await http.post(
                        f"{tasks}/extension",
                        json={"days": 5, "reason": "需补充检验 / more tests needed"},
                        headers=self._staff(PRACTISED),
                    )
                if app.extended:
                    self.practice["extensions"] += 1
                return
            if task["state"] == "approved":
                app.approved_once = True
                answer = await http.post(
                    f"{tasks}/return",
                    json={"reason": "出生医学证明信息需复核 / check the certificate again"},
                    headers=self._staff(LEAD),
                )
                app.returned = answer.status_code == 200
            elif task["state"] == "open" and app.approved_once:
                app.returned = True  # returned, though the answer was lost
        except httpx.HTTPError as exc:
            self.retries[f"practice:{type(exc).__name__}"] += 1
            return
        if app.returned:
            self.practice["returns"] += 1
            app.pending.add(PRACTISED)  # to be approved again

    async def _add_department(
        self, http: httpx.AsyncClient, app: Accepted, tasks: list[dict[str, object]]
    ) -> None:
        """加签: the lead adds ADDED once (a lost answer shows as its task, next time)."""
        if not any(task["department_code"] == ADDED for task in tasks):
            answer = await http.post(
                f"{self.workflow}/v1/applications/{app.code}/departments",
                json={
                    "department_code": ADDED,
                    "reason": "涉及税务登记 / tax registration is involved",
                    "committed_days": 3,
                },
                headers=self._staff(LEAD),
            )
            if answer.status_code != 200:
                self.retries[f"add-department:{answer.status_code}"] += 1
                return
        app.added = True
        app.pending.add(ADDED)
        self.practice["departments_added"] += 1

    @property
    def undecided(self) -> int:
        return sum(len(a.pending) for a in self.accepted.values())
