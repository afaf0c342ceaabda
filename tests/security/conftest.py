"""The security suite: attacks tried against the real processes and APIs, each test named
for what an attacker would try. Every test here needs the local infrastructure (the test
database at least), so each one is an integration test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from onceonly.platform import testing
from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.settings import PlatformSettings
from onceonly.platform.testing import eventually
from tests.observability.processes import COMMANDS, Running, healthy, integrator_key, running

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def clean_environment() -> dict[str, str]:
    """This process's environment without any ONCEONLY_ variable: a process started with
    it has only what a test gives it."""
    return {key: value for key, value in os.environ.items() if not key.startswith("ONCEONLY_")}


@pytest.fixture
def free_port() -> int:
    return testing.free_port()


@dataclass(frozen=True)
class System:
    """The whole system as deploy/local/Procfile starts it, one process per Procfile line,
    on a topic prefix, task queue, region code and consumer groups of its own."""

    running: Running
    intake: str
    workflow: str
    tracking: str
    notify: str
    integrator_key: str

    @property
    def env(self) -> dict[str, str]:
        return dict(self.running.env)

    @property
    def prefix(self) -> str:
        return self.running.env["ONCEONLY_TOPIC_PREFIX"]

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.running.logs.values())

    def staff(
        self, api: StaffApi, department: str, *roles: str, **claims: object
    ) -> dict[str, str]:
        """Headers with a staff token of the development keys the processes run with."""
        tokens = StaffTokens.from_settings(PlatformSettings(environment="development"), api)
        token = tokens.issue(
            staff_id="sec-staff",
            department_code=department,
            roles=roles,
            region=str(claims.get("region", "")),
        )
        return {"Authorization": f"Bearer {token}"}


# Tighter than the defaults where a test needs to reach a limit quickly.
SYSTEM_SETTINGS = {
    "ONCEONLY_PROGRESS_RATE_PER_MINUTE": "20",
    "ONCEONLY_PROGRESS_BURST": "20",
    "OTEL_SDK_DISABLED": "true",
    # Every staff token of the suite is "sec-staff", so the whole session's reads share
    # one staff bucket (30, then 5/s): once the system got faster, a division test met
    # 429 where it checks for 404. No test here is about the staff read limit.
    "ONCEONLY_TRACKING_STAFF_READ_BURST": "100000",
    "ONCEONLY_WORKFLOW_API_STAFF_READ_BURST": "100000",
    "ONCEONLY_NOTIFY_STAFF_READ_BURST": "100000",
}


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("system")
    saved = {name: os.environ.get(name) for name in SYSTEM_SETTINGS}
    os.environ.update(SYSTEM_SETTINGS)
    try:
        with running(list(COMMANDS), otlp_endpoint="http://127.0.0.1:9", log_dir=logs) as up:
            urls = up.urls

            async def all_healthy() -> bool:
                async with httpx.AsyncClient(timeout=5) as http:
                    return all([await healthy(http, url) for url in urls.values()])

            asyncio.run(eventually(all_healthy, within=120, what="every process healthy"))
            yield System(
                running=up,
                intake=urls["intake-api"],
                workflow=urls["workflow-api"],
                tracking=urls["tracking-api"],
                notify=urls["notify"],
                integrator_key=integrator_key(up.env, "security suite portal"),
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# What a spouse moving too puts in the form (x-personal in household-transfer's schema).
SPOUSE_NAME = "欧阳娜娜"
SPOUSE_ID = "330106198507124317"
SPOUSE_MOBILE = "13987654321"


@dataclass(frozen=True)
class Submitted:
    code: str
    mobile: str


def household_transfer(mobile: str) -> dict[str, object]:
    return {
        "matter_code": "household-transfer",
        "applicant": {"kind": "person", "name": "张伟", "identifier": "11010519491231002X"},
        "contact": {"mobile": mobile, "channels": ["sms"], "language": "zh"},
        "materials": [
            {"code": code, "reference": f"dms://security/{code}.pdf"}
            for code in ("transfer-application", "resident-id", "housing-proof")
        ],
        "form": {
            "from_district": "上城区",
            "to_district": "西湖区",
            "reason": "购房迁入",
            "spouse_name": SPOUSE_NAME,
            "spouse_id_number": SPOUSE_ID,
            "spouse_mobile": SPOUSE_MOBILE,
        },
    }


async def submit(system: System, mobile: str = "13812345678") -> Submitted:
    async with httpx.AsyncClient(timeout=20) as http:
        answer = await http.post(
            f"{system.intake}/v1/applications",
            json=household_transfer(mobile),
            headers={"Authorization": f"Bearer {system.integrator_key}"},
        )
    assert answer.status_code == 201, answer.text
    return Submitted(code=answer.json()["application_code"], mobile=mobile)


@pytest.fixture(scope="session")
def application(system: System) -> Submitted:
    """One household transfer with a spouse in its form, through every service: its
    public-security task started, tracking's timeline holding it."""

    async def through() -> Submitted:
        submitted = await submit(system)
        supervision = system.staff(StaffApi.TRACKING, "supervision-office", "supervision")
        url = f"{system.tracking}/v1/applications/{submitted.code}/timeline"

        async def task_started() -> bool:
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.get(url, headers=supervision)
            types = [e["type"] for e in answer.json()["entries"]] if answer.is_success else []
            return any(t.endswith("TaskStarted") for t in types)

        await eventually(task_started, within=90, what="the task started, on the timeline")
        return submitted

    return asyncio.run(through())
