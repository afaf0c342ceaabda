"""Every running service serves Prometheus metrics at /metrics, and they move with the
traffic: request counts and latencies, consumer lag, outbox backlog, open tasks by
supervision level, notifications sent. No label carries an application code or
personal data."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from onceonly.platform.settings import PlatformSettings
from onceonly.platform.testing import eventually
from onceonly.platform.topics import Stream, topic_name
from tests.e2e.support import (
    DEADLINE_SECONDS,
    MOBILE,
    RESIDENT_ID,
    Endpoints,
    household_transfer,
    submit,
)

pytestmark = pytest.mark.e2e

Samples = list[tuple[str, dict[str, str], float]]


async def scrape(http: httpx.AsyncClient, base: str) -> tuple[str, Samples]:
    answer = await http.get(f"{base}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    ]
    return answer.text, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and labels.items() <= sample_labels.items()
    )


def label_sets(samples: Samples, name: str) -> list[dict[str, str]]:
    return [labels for sample_name, labels, _ in samples if sample_name == name]


async def test_every_service_exposes_metrics_that_follow_the_traffic(
    http: httpx.AsyncClient,
    endpoints: Endpoints,
    integrator_key: str,
    staff_headers: Callable[..., dict[str, str]],
    platform_settings: PlatformSettings,
) -> None:
    services = {
        "intake": endpoints.intake,
        "workflow": endpoints.workflow,
        "tracking": endpoints.tracking,
        "notify": endpoints.notify,
    }
    before = {name: (await scrape(http, url))[1] for name, url in services.items()}

    answer = await submit(http, endpoints.intake, integrator_key, household_transfer())
    assert answer.status_code == 201, answer.text
    code = answer.json()["application_code"]
    supervision = staff_headers("supervision-office", "supervision")
    police = staff_headers("public-security", staff="ps-0042")
    reads = 3
    for _ in range(reads):
        await http.get(f"{endpoints.tracking}/v1/applications/{code}/status", headers=supervision)
        await http.get(f"{endpoints.workflow}/v1/tasks", headers=police)
        await http.get(
            f"{endpoints.notify}/v1/notifications",
            params={"application_code": code},
            headers=staff_headers("operations-centre", "operations"),
        )

    # Request rates and latencies, by route template, on every API.
    _, intake = await scrape(http, endpoints.intake)
    posted = {"service": "intake", "method": "POST", "route": "/v1/applications", "status": "201"}
    name = "onceonly_http_request_duration_seconds_count"
    assert total(intake, name, **posted) >= total(before["intake"], name, **posted) + 1
    name = "onceonly_intake_submissions_total"
    accepted = {"outcome": "accepted"}
    assert total(intake, name, **accepted) >= total(before["intake"], name, **accepted) + 1
    assert label_sets(intake, "onceonly_intake_outbox_backlog") == [{}]
    routes = {
        "workflow": "/v1/tasks",
        "tracking": "/v1/applications/{code}/status",
        "notify": "/v1/notifications",
    }
    now: dict[str, Samples] = {}
    for service, route in routes.items():
        _, now[service] = await scrape(http, services[service])
        labels = {"service": service, "method": "GET", "route": route}
        name = "onceonly_http_request_duration_seconds_count"
        assert total(now[service], name, **labels) >= total(before[service], name, **labels) + reads
        name = "onceonly_http_request_duration_seconds_sum"
        assert total(now[service], name, **labels) > total(before[service], name, **labels)

    # Consumer lag of every Kafka consumer (refreshed in the background: wait for it).
    prefix = platform_settings.topic_prefix
    expected_lag = {
        "workflow": ("workflow-bridge", Stream.SUBMISSIONS),
        "tracking": ("tracking", Stream.APPROVAL_EVENTS),
        "notify": ("notify", Stream.APPROVAL_EVENTS),
    }
    for service, (consumer, stream) in expected_lag.items():
        wanted = {"consumer": consumer, "topic": topic_name(prefix, stream)}

        async def measured(url: str = services[service]) -> Samples:
            return (await scrape(http, url))[1]

        await eventually(
            measured,
            lambda samples, wanted=wanted: (
                wanted in label_sets(samples, "onceonly_kafka_consumer_lag")
            ),
            within=DEADLINE_SECONDS,
            what=f"the lag of {consumer}",
        )

    # Open tasks by supervision level: every level, as a gauge.
    levels = {
        labels["level"] for labels in label_sets(now["tracking"], "onceonly_tracking_open_tasks")
    }
    assert levels == {"none", "yellow", "red", "legal"}

    # Notifications sent: the acceptance SMS of this application moves the counter.
    sent = "onceonly_notify_notifications_total"
    baseline = total(before["notify"], sent, status="sent")

    async def notify_samples() -> Samples:
        return (await scrape(http, endpoints.notify))[1]

    await eventually(
        notify_samples,
        lambda samples: total(samples, sent, status="sent") >= baseline + 1,
        within=DEADLINE_SECONDS,
        what="a notification counted as sent",
    )

    # Bounded labels: no application code, no personal data, in any service's metrics.
    for url in services.values():
        text, _ = await scrape(http, url)
        for secret in (code, RESIDENT_ID, MOBILE, "张伟"):
            assert secret not in text, f"{secret!r} in {url}/metrics"
