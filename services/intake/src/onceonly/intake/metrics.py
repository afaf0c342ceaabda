"""Prometheus metrics of intake (API process and relay process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SUBMISSIONS = Counter(
    "onceonly_intake_submissions_total",
    "Submissions by outcome: accepted, replayed, invalid, key_reused",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "onceonly_intake_rate_limited_total",
    "Requests refused with 429, by limit: integrator (POSTs), progress (per address) or"
    " progress_global (the deployment's failed lookups per minute)",
    ["limit"],
)
PROGRESS_REFUSED = Counter(
    "onceonly_intake_progress_refused_total",
    "Progress lookups answered 404, by reason: no_match (unknown code, wrong digits or"
    " token) or locked (right digits while the code was locked)",
    ["reason"],
)
SUBMISSION_PATH = Counter(
    "onceonly_intake_submission_path_total",
    "POST /v1/applications by path: fast (answered by SubmissionFastPath) or route (its"
    " shape passed on to the FastAPI route, which answers refusals of shape)",
    ["path"],
)
TIMED_OUT = Counter(
    "onceonly_intake_timed_out_total",
    "Requests answered 503 because they were not answered within the request deadline",
)
OUTBOX_BACKLOG = Gauge("onceonly_intake_outbox_backlog", "Outbox rows not yet published to Kafka")
OUTBOX_OLDEST_SECONDS = Gauge(
    "onceonly_intake_outbox_oldest_seconds", "Age of the oldest unpublished outbox row"
)
RELAY_PUBLISHED = Counter(
    "onceonly_intake_relay_published_total", "Outbox rows the relay published"
)
RELAY_FAILURES = Counter(
    "onceonly_intake_relay_failures_total", "Relay batches that failed and will be retried"
)
