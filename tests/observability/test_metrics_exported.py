"""Every metric an alert rule or a dashboard reads is exported by a running process.

The test brings the whole system up as `make up` does (deploy/local/services.sh with
the Procfile and deploy/local/env), as a second system beside any running one: its own
run directory, every port of deploy/local/env moved to a free one, the test database,
its own topic prefix, task queue, consumer group and region code. It drives traffic
through it (an application submitted and approved, and a workflow of a type the worker
does not register, so that workflow task failures are counted), then scrapes every job
of deploy/observability/prometheus/prometheus.local.yml at its moved port until every
name the pack reads is there. Histogram series (`_bucket`, `_sum`, `_count`) count as
their family; `up` and the other series Prometheus makes itself count as every job
answering.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.settings import PlatformSettings
from onceonly.platform.testing import (
    eventually,
    free_ports,
    test_database_url,
    test_kafka_bootstrap,
)
from onceonly.platform.testing import unique_prefix as unique_name
from onceonly.workflow.case_clocks import rectification_code
from onceonly.workflow.case_shared import RECTIFICATION_WORKFLOW, RectificationInput
from tests.e2e.support import MOBILE, RESIDENT_ID, household_transfer, http_client, submit
from tests.observability.pack import (
    JOB_PORT_VARIABLES,
    LOCAL_CONFIG,
    PROMETHEUS_OWN,
    REPO,
    local_ports,
    named_metrics,
    scrape_targets,
)
from tests.observability.promql import family

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

SERVICES_SH = REPO / "deploy" / "local" / "services.sh"
DEADLINE_SECONDS = 180.0
APPLICANT_NAME = household_transfer()["applicant"]["name"]
# A workflow type no worker registers: each of its workflow tasks fails in the worker.
UNREGISTERED_WORKFLOW = "NotRegisteredOnThisWorker"


@dataclass
class System:
    env: dict[str, str]
    run_dir: Path

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.env[variable]}"

    def services(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [str(SERVICES_SH), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"services.sh {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
            )
        return done.stdout

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {log.name} ---\n{log.read_text(errors='replace')[-1500:]}"
            for log in sorted((self.run_dir / "logs").glob("*.log"))
        )


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    prefix = unique_name("metrics")
    variables = list(local_ports())
    env = {
        **os.environ,
        # Every port of deploy/local/env (APIs, metrics endpoints, the agent's web) moved.
        **{
            name: str(port)
            for name, port in zip(variables, free_ports(len(variables)), strict=True)
        },
        "ONCEONLY_RUN_DIR": str(tmp_path / "run"),
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_DATABASE_URL": test_database_url(),
        "ONCEONLY_KAFKA_BOOTSTRAP": test_kafka_bootstrap(),
        "ONCEONLY_TOPIC_PREFIX": prefix,
        "ONCEONLY_TEMPORAL_TASK_QUEUE": prefix,
        "ONCEONLY_NOTIFY_CONSUMER_GROUP": f"{prefix}-notify",
        # Application codes (= workflow ids) that no earlier run on this database made.
        "ONCEONLY_REGION_CODE": str(random.randint(900000, 999999)),
        "ONCEONLY_HEARTBEAT_SECONDS": "0.5",
        "ONCEONLY_METRICS_REFRESH_SECONDS": "1",
    }
    running = System(env=env, run_dir=tmp_path / "run")
    try:
        running.services("up")
        yield running
    finally:
        # Shown only when the test fails (pytest's captured output of the teardown).
        print(running.log_tails())
        running.services("down", timeout=120)


def exported(text: str) -> set[str]:
    """The names of the samples in an exposition, and of the families it declares (a
    labelled counter that has counted nothing yet is declared without a sample)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names


def missing(named: dict[str, list[str]], found: set[str]) -> dict[str, str]:
    """The names the pack reads that no job exports, each with where it is read."""
    return {
        name: where[0]
        for name, where in named.items()
        if name not in PROMETHEUS_OWN and name not in found and family(name) not in found
    }


async def scrape_all(http: httpx.AsyncClient, system: System) -> dict[str, str]:
    """Each job of the local scrape configuration, at its moved port → its /metrics."""
    texts = {}
    for job in scrape_targets(LOCAL_CONFIG):
        answer = await http.get(f"{system.url(JOB_PORT_VARIABLES[job])}/metrics")
        assert answer.status_code == 200, f"{job}: {answer.status_code}"
        texts[job] = answer.text
    return texts


async def approve_one_application(http: httpx.AsyncClient, system: System) -> str:
    key = system.services(
        "run",
        str(REPO / ".venv/bin/onceonly-intake"),
        "integrator",
        "create",
        "metrics test portal",
        "--reuse",
        "--json",
    )
    api_key = json.loads(key.strip().splitlines()[-1])["api_key"]
    answer = await submit(http, system.url("ONCEONLY_INTAKE_PORT"), api_key, household_transfer())
    assert answer.status_code == 201, answer.text
    code = str(answer.json()["application_code"])
    department_api = StaffTokens.from_settings(
        PlatformSettings(environment="development"), StaffApi.DEPARTMENT
    )
    token = department_api.issue(
        staff_id="ps-metrics", department_code="public-security", roles=("reviewer",)
    )

    async def decide() -> int:
        decided = await http.post(
            f"{system.url('ONCEONLY_WORKFLOW_API_PORT')}/v1/applications/{code}"
            "/tasks/public-security/decision",
            json={"outcome": "approved"},
            headers={"Authorization": f"Bearer {token}"},
        )
        return decided.status_code

    # Until the bridge has started the workflow and its task is open.
    await eventually(
        decide,
        lambda status: status == 200,
        within=DEADLINE_SECONDS,
        interval=1.0,
        what="the public-security decision",
    )
    return code


async def test_every_metric_of_the_rules_and_dashboards_is_exported(system: System) -> None:
    named = named_metrics()
    assert len(named) > 30, "the pack reads fewer metrics than expected: is it loaded?"
    temporal = await Client.connect(
        system.env.get("ONCEONLY_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
        namespace=system.env.get("ONCEONLY_TEMPORAL_NAMESPACE", "default"),
    )
    failing: WorkflowHandle[object, object] | None = None
    rectifying: WorkflowHandle[object, object] | None = None
    async with http_client() as http:
        try:
            code = await approve_one_application(http, system)
            failing = await temporal.start_workflow(
                UNREGISTERED_WORKFLOW,
                id=f"{system.env['ONCEONLY_TOPIC_PREFIX']}-{uuid.uuid4().hex[:8]}",
                task_queue=system.env["ONCEONLY_TEMPORAL_TASK_QUEUE"],
            )
            # The application runs only local activities (since the local-elicence patch);
            # a rectification, as the bridge starts after a poor rating, begins with a
            # regular one, whose metrics the rules read too.
            rectifying = await temporal.start_workflow(
                RECTIFICATION_WORKFLOW,
                RectificationInput(
                    case_code=rectification_code(code),
                    application_code=code,
                    department_code="public-security",
                    rating_level=1,
                    rated_at=datetime.now(UTC).isoformat(),
                    matter_code="household-transfer",
                ),
                id=f"{system.env['ONCEONLY_TOPIC_PREFIX']}-{uuid.uuid4().hex[:8]}",
                task_queue=system.env["ONCEONLY_TEMPORAL_TASK_QUEUE"],
            )

            async def still_missing() -> dict[str, str]:
                texts = await scrape_all(http, system)
                return missing(named, set().union(*(exported(t) for t in texts.values())))

            absent = await eventually(
                still_missing,
                lambda absent: not absent,
                within=DEADLINE_SECONDS,
                interval=2.0,
                what="every metric the rules and dashboards read",
            )
            assert absent == {}
            texts = await scrape_all(http, system)
        finally:
            for handle in (failing, rectifying):
                if handle is not None:
                    await handle.terminate("the metrics test is done with it")

    # Every Python process also reports its own resources; the SDK's endpoint is Rust's.
    for job, text in texts.items():
        if job != "workflow-worker-sdk":
            assert "process_resident_memory_bytes" in exported(text), job
    # The new endpoints keep the rule of every other: no application code, no personal data.
    for job, text in texts.items():
        for secret in (code, RESIDENT_ID, MOBILE, APPLICANT_NAME):
            assert secret not in text, f"{secret!r} in the metrics of {job}"
