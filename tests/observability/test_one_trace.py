"""One trace per application across the four services, as deployed.

The test starts the real processes of deploy/local/Procfile (intake API and relay,
workflow worker and bridge, tracking agent, notify) on their own topic prefix, task
queue, region code and consumer groups, with tracing configured only by the standard
`OTEL_*` variables to export OTLP/HTTP to a receiver the test runs. It submits one
application with a `traceparent` of its own and waits until spans of every service,
Kafka hop and Temporal step carry that trace id; then it checks that no span and no log
line holds the applicant's personal data.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from onceonly.platform.testing import eventually, test_database_url, test_kafka_bootstrap
from onceonly.platform.testing import unique_prefix as unique_name
from tests.e2e.support import MOBILE, RESIDENT_ID, household_transfer
from tests.observability.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 120.0
APPLICANT_NAME = household_transfer()["applicant"]["name"]
PERSONAL_DATA = (RESIDENT_ID, MOBILE, APPLICANT_NAME)
BIN = Path(sys.executable).parent
PROCESSES = {
    "intake-api": ["onceonly-intake", "api"],
    "intake-relay": ["onceonly-intake", "relay"],
    "workflow-worker": ["onceonly-workflow", "worker"],
    "workflow-bridge": ["onceonly-workflow", "bridge"],
    "tracking-agent": ["onceonly-tracking", "agent"],
    "notify": ["onceonly-notify", "run"],
}
SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP SpanKind values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class System:
    intake: str
    notify: str
    logs: dict[str, Path]
    env: dict[str, str]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def system(receiver: OtlpReceiver, tmp_path: Path) -> Iterator[System]:
    prefix = unique_name("trace")
    intake_port, notify_port = free_port(), free_port()
    env = {
        **os.environ,
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_DATABASE_URL": test_database_url(),
        "ONCEONLY_KAFKA_BOOTSTRAP": test_kafka_bootstrap(),
        "ONCEONLY_TOPIC_PREFIX": prefix,
        "ONCEONLY_TEMPORAL_TASK_QUEUE": prefix,
        "ONCEONLY_NOTIFY_CONSUMER_GROUP": f"{prefix}-notify",
        # Application codes (= workflow ids) that no earlier run on this database made.
        "ONCEONLY_REGION_CODE": str(random.randint(900000, 999999)),
        "ONCEONLY_INTAKE_PORT": str(intake_port),
        "ONCEONLY_NOTIFY_PORT": str(notify_port),
        "ONCEONLY_HEARTBEAT_SECONDS": "0.5",
        "ONCEONLY_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        # Standard variables only: this is how an operator points the system at Jaeger.
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    for name in ("OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER"):
        env.pop(name, None)
    logs = {name: tmp_path / f"{name}.log" for name in PROCESSES}
    running: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, (script, command) in PROCESSES.items():
            with logs[name].open("wb") as log:
                running[name] = subprocess.Popen(
                    [str(BIN / script), command], env=env, stdout=log, stderr=subprocess.STDOUT
                )
        yield System(
            intake=f"http://127.0.0.1:{intake_port}",
            notify=f"http://127.0.0.1:{notify_port}",
            logs=logs,
            env=env,
        )
    finally:
        for process in running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in running.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                print(f"{name} did not stop on SIGTERM; killed")


def integrator_key(env: dict[str, str]) -> str:
    out = subprocess.run(
        [
            str(BIN / "onceonly-intake"),
            "integrator",
            "create",
            "trace test portal",
            "--reuse",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return str(json.loads(out)["api_key"])


async def healthy(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/health")).status_code == 200
    except httpx.TransportError:
        return False


def _has(spans: list[ReceivedSpan], service: str, kind: int, name_start: str) -> bool:
    return any(
        s.service == service and s.kind == kind and s.name.startswith(name_start) for s in spans
    )


def complete(spans: list[ReceivedSpan]) -> bool:
    """Every hop of the application's journey has a span in the trace."""
    return all(
        (
            _has(spans, "onceonly-intake", SERVER, "POST /v1/applications"),
            _has(spans, "onceonly-intake", PRODUCER, ""),  # the relay's publish
            _has(spans, "onceonly-workflow", CONSUMER, "workflow-bridge process"),
            any(s.name == "StartWorkflow:JointApproval" for s in spans),
            any(s.name == "RunWorkflow:JointApproval" for s in spans),
            # publish_event, or publish_events for the acceptance and its tasks' starts.
            any(s.name.startswith("RunActivity:publish_event") for s in spans),
            # Events published by the workflow's activities, consumed downstream.
            _has(spans, "onceonly-tracking", CONSUMER, "tracking record ApplicationAccepted"),
            _has(spans, "onceonly-notify", CONSUMER, "notify process ApplicationAccepted"),
        )
    )


async def test_one_trace_follows_an_application_through_every_service(
    system: System, receiver: OtlpReceiver
) -> None:
    async with httpx.AsyncClient(timeout=20.0) as http:
        for url in (system.intake, system.notify):
            await eventually(
                lambda url=url: healthy(http, url),
                within=DEADLINE_SECONDS,
                interval=0.5,
                what=f"{url}/health",
            )
        key = integrator_key(system.env)
        trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
        answer = await http.post(
            f"{system.intake}/v1/applications",
            json=household_transfer(),
            headers={
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": unique_name("trace"),
                "traceparent": f"00-{trace_id}-{parent_id}-01",
            },
        )
        assert answer.status_code == 201, answer.text
        code = answer.json()["application_code"]
        # A query string is redacted before export (the progress lookup takes the last
        # four digits of the phone number).
        progress = await http.get(
            f"{system.intake}/v1/progress",
            params={"code": code, "last4": MOBILE[-4:]},
            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        )
        assert progress.status_code in (200, 404), progress.text

    async def in_trace() -> list[ReceivedSpan]:
        return [s for s in receiver.spans() if s.trace_id == trace_id]

    spans = await eventually(
        in_trace, complete, within=DEADLINE_SECONDS, interval=0.5, what="the complete trace"
    )
    assert {s.service for s in spans} >= {
        "onceonly-intake",
        "onceonly-workflow",
        "onceonly-tracking",
        "onceonly-notify",
    }
    # The request's span continues the caller's context; the consumers carry the code.
    request = next(s for s in spans if s.kind == SERVER and s.name == "POST /v1/applications")
    assert request.parent_span_id == parent_id
    assert any(
        s.attributes.get("onceonly.application_code") == code
        for s in spans
        if s.service == "onceonly-intake" and s.kind != PRODUCER
    )
    consumers = [s for s in spans if s.kind == CONSUMER]
    assert all(s.attributes["onceonly.application_code"] == code for s in consumers)

    lookup = await eventually(
        lambda: _progress_spans(receiver, trace_id), within=DEADLINE_SECONDS, what="progress span"
    )
    assert {s.attributes.get("url.query") for s in lookup} == {"code=REDACTED&last4=REDACTED"}

    # No personal data anywhere in what was exported, nor in any process's log.
    for span in receiver.spans():
        leaked = [value for value in span.texts for secret in PERSONAL_DATA if secret in value]
        assert not leaked, f"personal data in span {span.name!r} of {span.service}"
    for name, path in system.logs.items():
        text = path.read_text(errors="replace")
        assert not [secret for secret in PERSONAL_DATA if secret in text], f"in {name}'s log"

    # JSON logs of the consumers and the activities carry the trace id and the code.
    for name in ("workflow-bridge", "workflow-worker", "tracking-agent", "notify"):
        lines = [
            json.loads(line)
            for line in system.logs[name].read_text().splitlines()
            if line.startswith("{")
        ]
        assert any(
            line.get("trace_id") == trace_id and line.get("application_code") == code
            for line in lines
        ), f"no line of {name} with the trace id and the application code"


async def _progress_spans(receiver: OtlpReceiver, trace_id: str) -> list[ReceivedSpan]:
    return [
        s
        for s in receiver.spans()
        if s.trace_id == trace_id and s.kind == SERVER and s.name == "GET /v1/progress"
    ]
