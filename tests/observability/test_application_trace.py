"""Every step of an application is found from its trace, and every API request has one
access log line, on the processes as deployed.

The test starts intake (API and relay), the workflow (worker, bridge, department API),
tracking's API and notify on a topic prefix and task queue of their own, exporting OTLP
to a receiver it runs. It submits an application with a `traceparent` of its own, looks
its progress up with the last digits of the mobile number, supplies a supplement and
has the department decide over the department API. Then:

- the decision's workflow steps (its Update handler, the TaskDecided it publishes, notify
  consuming it) are in the application's trace, and the handler links to the decision
  request's trace, whose server span names the application;
- the supplement's own trace (intake's request, the relay, the bridge) links to the
  application's trace from the bridge's span, and the workflow's signal handler (in the
  application's trace) links back to it;
- Postgres statements are spans of the request that ran them, with no values;
- each API wrote one access line per request with the route template, status, request
  id, trace id and caller (integrator, or staff and department), and no log line and no
  span holds the applicant's name, mobile number or ID number.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from onceonly.platform.testing import eventually
from tests.e2e.support import MOBILE, RESIDENT_ID, household_transfer, http_client
from tests.observability.otlp import OtlpReceiver, ReceivedSpan
from tests.observability.processes import (
    BIN,
    Running,
    healthy,
    integrator_key,
    json_lines,
    running,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(480)]

DECISION_ROUTE = "POST /v1/applications/{code}/tasks/{department}/decision"
DEADLINE_SECONDS = 120.0
NAME = household_transfer()["applicant"]["name"]
PERSONAL_DATA = (RESIDENT_ID, MOBILE, NAME)
PROCESSES = [
    "intake-api",
    "intake-relay",
    "workflow-worker",
    "workflow-bridge",
    "workflow-api",
    "tracking-api",
    "notify",
]
SERVER, CONSUMER = 2, 5  # OTLP SpanKind values
# What an access line may hold: nothing else of the request is ever written.
ACCESS_FIELDS = {
    "event",
    "level",
    "timestamp",
    "service",
    "method",
    "route",
    "status",
    "duration_ms",
    "request_id",
    "trace_id",
    "span_id",
    "application_code",
    "integrator_id",
    "staff_id",
    "department",
}


@pytest.fixture
def system(receiver: OtlpReceiver, tmp_path: Path) -> Iterator[Running]:
    with running(PROCESSES, otlp_endpoint=receiver.endpoint, log_dir=tmp_path) as started:
        yield started


def staff_token(env: dict[str, str], staff: str, department: str) -> str:
    """A department API token, from the CLI as an operator would get one."""
    done = subprocess.run(
        [str(BIN / "onceonly-workflow"), "token", "--staff", staff, "--department", department],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().splitlines()[-1]


async def answering(http: httpx.AsyncClient, url: str) -> bool:
    """Answers at all (tracking's API reports 503 without its agent, which is not run)."""
    try:
        await http.get(f"{url}/health")
        return True
    except httpx.TransportError:
        return False


def in_trace(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.trace_id == trace_id]


def access_lines(system: Running, name: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(system.logs[name]) if line.get("event") == "request"]


async def test_every_step_is_found_from_the_application_trace(
    system: Running, receiver: OtlpReceiver
) -> None:
    intake, workflow = system.urls["intake-api"], system.urls["workflow-api"]
    tracking, notify = system.urls["tracking-api"], system.urls["notify"]
    async with http_client() as http:
        for url in (intake, workflow, notify):
            await eventually(
                lambda url=url: healthy(http, url),
                within=DEADLINE_SECONDS,
                interval=0.5,
                what=f"{url}/health",
            )
        await eventually(
            lambda: answering(http, tracking), within=DEADLINE_SECONDS, what="tracking's API"
        )
        env = dict(system.env)
        key = integrator_key(env)
        police = {"Authorization": f"Bearer {staff_token(env, 'ps-0042', 'public-security')}"}
        application = secrets.token_hex(16)
        submitted = await http.post(
            f"{intake}/v1/applications",
            json=household_transfer(),
            headers={
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": str(uuid.uuid4()),
                "traceparent": f"00-{application}-{secrets.token_hex(8)}-01",
            },
        )
        assert submitted.status_code == 201, submitted.text
        code = submitted.json()["application_code"]
        progress = await http.get(
            f"{intake}/v1/progress", params={"code": code, "last4": MOBILE[-4:]}
        )
        assert progress.status_code in (200, 404), progress.text

        async def listed() -> bool:
            tasks = (await http.get(f"{workflow}/v1/tasks", headers=police)).json()
            return any(task["application_code"] == code for task in tasks)

        await eventually(listed, within=DEADLINE_SECONDS, what="the public-security task")
        supplement = await http.post(
            f"{intake}/v1/applications/{code}/supplements",
            json={"materials": [{"code": "household-register", "reference": "doc://t/1"}]},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
        )
        assert supplement.status_code == 202, supplement.text

        async def signalled() -> list[ReceivedSpan]:
            return [s for s in receiver.spans() if s.name == "HandleSignal:supplement"]

        await eventually(signalled, within=DEADLINE_SECONDS, what="the supplement's signal")
        decided = await http.post(
            f"{workflow}/v1/applications/{code}/tasks/public-security/decision",
            json={"outcome": "approved"},
            headers=police,
        )
        assert decided.status_code == 200, decided.text
        # Tracking's and notify's access lines (no staff token of theirs is needed).
        assert (await http.get(f"{tracking}/v1/applications/{code}/status")).status_code == 401
        assert (await http.get(f"{notify}/v1/notifications")).status_code == 401

    def complete(spans: list[ReceivedSpan]) -> bool:
        # Every span asserted on below, from whichever process: each exports on its own
        # batch schedule, so the worker's handler can arrive before the API's request.
        mine = in_trace(spans, application)
        return (
            any(s.name == "HandleUpdate:decide" for s in mine)
            and any(
                s.service == "onceonly-notify" and s.name == "notify process TaskDecided"
                for s in mine
            )
            and any(s.name == "intake-approvals process TaskDecided" for s in mine)
            and any(s.name == DECISION_ROUTE and s.kind == SERVER for s in spans)
            and any(s.name == "workflow-bridge process SupplementProvided" for s in spans)
        )

    async def exported() -> list[ReceivedSpan]:
        return receiver.spans()

    spans = await eventually(
        exported, complete, within=DEADLINE_SECONDS, what="the decision in the trace"
    )
    mine = in_trace(spans, application)

    # The decision: its handler in the application's trace, linked to the request.
    [handler] = [s for s in mine if s.name == "HandleUpdate:decide"]
    [request] = [s for s in spans if s.kind == SERVER and s.name == DECISION_ROUTE]
    assert request.trace_id != application
    assert request.attributes["onceonly.application_code"] == code
    assert request.trace_id in {trace_id for trace_id, _ in handler.links}
    # What it published was consumed in the application's trace too.
    assert any(s.name == "intake-approvals process TaskDecided" for s in mine)

    # The supplement: its own trace, linked both ways with the application's.
    [update] = [
        s
        for s in spans
        if s.kind == CONSUMER and s.name == "workflow-bridge process SupplementProvided"
    ]
    assert update.trace_id != application
    assert application in {trace_id for trace_id, _ in update.links}
    [signal] = [s for s in mine if s.name == "HandleSignal:supplement"]
    assert update.trace_id in {trace_id for trace_id, _ in signal.links}

    # Postgres statements of the submission's request, without values.
    statements = [s for s in mine if s.attributes.get("db.system.name") == "postgresql"]
    assert any(s.service == "onceonly-intake" for s in statements)
    assert any(str(s.attributes["db.query.text"]).startswith("INSERT") for s in statements)
    assert any(s.service == "onceonly-workflow" for s in statements)  # an activity's

    # One access line per request, with the route template, caller and trace.
    intake_lines = access_lines(system, "intake-api")
    [posted] = [line for line in intake_lines if line["route"] == "/v1/applications"]
    assert posted["trace_id"] == application
    assert posted["status"] == 201 and posted["integrator_id"]
    [lookup] = [line for line in intake_lines if line["route"] == "/v1/progress"]
    assert "integrator_id" not in lookup and "application_code" not in lookup
    [decision] = [
        line
        for line in access_lines(system, "workflow-api")
        if line["route"] == "/v1/applications/{code}/tasks/{department}/decision"
    ]
    assert decision["status"] == 200
    assert (decision["staff_id"], decision["department"]) == ("ps-0042", "public-security")
    assert decision["application_code"] == code
    assert decision["trace_id"] == request.trace_id
    for name, service in (("tracking-api", "tracking"), ("notify", "notify")):
        [refused] = [line for line in access_lines(system, name) if line["status"] == 401]
        assert refused["service"] == service
    for name in ("intake-api", "workflow-api", "tracking-api", "notify"):
        for line in access_lines(system, name):
            assert set(line) <= ACCESS_FIELDS, f"{name}: {sorted(set(line) - ACCESS_FIELDS)}"

    # No personal data in any span or any process's log.
    for span in receiver.spans():
        leaked = [value for value in span.texts for secret in PERSONAL_DATA if secret in value]
        assert not leaked, f"personal data in span {span.name!r} of {span.service}"
        assert "last4=" + MOBILE[-4:] not in json.dumps(span.attributes, ensure_ascii=False)
    for name, path in system.logs.items():
        text = path.read_text(errors="replace")
        assert not [secret for secret in PERSONAL_DATA if secret in text], f"in {name}'s log"
        assert "last4" not in text, f"the lookup's query in {name}'s log"
