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
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from onceonly.platform.testing import eventually
from onceonly.platform.testing import unique_prefix as unique_name
from tests.e2e.support import MOBILE, RESIDENT_ID, household_transfer, http_client
from tests.observability.otlp import OtlpReceiver, ReceivedSpan
from tests.observability.processes import Running, healthy, integrator_key, running

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 120.0
APPLICANT_NAME = household_transfer()["applicant"]["name"]
PERSONAL_DATA = (RESIDENT_ID, MOBILE, APPLICANT_NAME)
PROCESSES = [
    "intake-api",
    "intake-relay",
    "workflow-worker",
    "workflow-bridge",
    "tracking-agent",
    "notify",
]
SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP SpanKind values


@pytest.fixture
def system(receiver: OtlpReceiver, tmp_path: Path) -> Iterator[Running]:
    # Standard OTEL_* variables only: this is how an operator points the system at Jaeger.
    with running(PROCESSES, otlp_endpoint=receiver.endpoint, log_dir=tmp_path) as started:
        yield started


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
    system: Running, receiver: OtlpReceiver
) -> None:
    intake = system.urls["intake-api"]
    async with http_client() as http:
        for url in (intake, system.urls["notify"]):
            await eventually(
                lambda url=url: healthy(http, url),
                within=DEADLINE_SECONDS,
                interval=0.5,
                what=f"{url}/health",
            )
        key = integrator_key(dict(system.env))
        trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
        answer = await http.post(
            f"{intake}/v1/applications",
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
            f"{intake}/v1/progress",
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
