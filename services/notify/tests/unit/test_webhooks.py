"""Webhook rules: which events, the body (no personal data), the signature, and retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from onceonly.events.v1 import approval_pb2
from onceonly.notify.webhooks import (
    AttemptResult,
    RetryPolicy,
    classify,
    new_secret,
    signature_header,
    webhook_body,
    webhook_status,
)

MOBILE = "13812345678"


def test_status_changing_events_map_to_a_status_and_others_to_none(events) -> None:
    code = events.code()
    assert webhook_status(events.accepted(code)) == "accepted"
    assert (
        webhook_status(
            events.accepted(code, outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED)
        )
        == "supplement_requested"
    )
    assert webhook_status(events.decided(code)) == "task_approved"
    assert (
        webhook_status(events.decided(code, outcome=approval_pb2.DECISION_OUTCOME_REJECTED))
        == "task_rejected"
    )
    assert webhook_status(events.completed(code)) == "completed"
    assert webhook_status(events.rejected(code)) == "rejected"
    assert webhook_status(events.withdrawn(code)) == "withdrawn"
    assert webhook_status(events.task_started(code)) is None


def test_practice_that_moves_the_date_or_stops_the_clock_is_announced(events) -> None:
    code = events.code()
    granted = approval_pb2.ExtensionDecided(application_code=code, approved=True, days=10)
    refused = approval_pb2.ExtensionDecided(application_code=code, approved=False, days=10)
    assert webhook_status(granted) == "extended"
    assert webhook_status(refused) is None
    started = approval_pb2.SpecialProcedureStarted(application_code=code, kind="hearing")
    ended = approval_pb2.SpecialProcedureEnded(application_code=code, kind="hearing")
    assert webhook_status(started) == "special_procedure_started"
    assert webhook_status(ended) == "special_procedure_ended"
    assert webhook_status(approval_pb2.ClocksResumed(application_code=code)) == (
        "supplement_received"
    )
    revoked = approval_pb2.ELicenceRevoked(application_code=code, reason="吊销")
    assert webhook_status(revoked) == "elicence_revoked"
    for internal in (
        approval_pb2.TaskReturned(application_code=code),
        approval_pb2.DepartmentAdded(application_code=code),
        approval_pb2.DepartmentRemoved(application_code=code),
        approval_pb2.ExtensionRequested(application_code=code),
    ):
        assert webhook_status(internal) is None


def test_the_body_has_the_listed_fields_and_no_personal_data(events) -> None:
    code = events.code()
    envelope = events.envelope(events.decided(code), code)
    body = webhook_body(
        application_code=code,
        event_type=envelope.type,
        event_id=envelope.id,
        status="task_approved",
        occurred_at=datetime(2025, 3, 10, 2, 0, tzinfo=UTC),
    )
    assert json.loads(body) == {
        "application_code": code,
        "event_type": "TaskDecided",
        "event_id": envelope.id,
        "status": "task_approved",
        "occurred_at": "2025-03-10T02:00:00+00:00",
    }
    assert MOBILE not in body and "sealed" not in body


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    key_id, secret = new_secret()
    assert key_id.startswith("wk_") and secret.startswith("whsec_")
    assert new_secret() != (key_id, secret)
    body = '{"a":1}'
    header = signature_header(secret, 1_700_000_000, body)
    parts = dict(part.split("=", 1) for part in header.split(","))
    assert parts["t"] == "1700000000"
    expected = hmac.new(secret.encode(), f"1700000000.{body}".encode(), hashlib.sha256)
    assert parts["v1"] == expected.hexdigest()
    # Bound to the timestamp and the body.
    assert signature_header(secret, 1_700_000_001, body) != header
    assert signature_header(secret, 1_700_000_000, '{"a":2}') != header


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (200, AttemptResult.DELIVERED),
        (204, AttemptResult.DELIVERED),
        (400, AttemptResult.PERMANENT),
        (404, AttemptResult.PERMANENT),
        (410, AttemptResult.PERMANENT),
        (302, AttemptResult.PERMANENT),
        (408, AttemptResult.RETRY),
        (429, AttemptResult.RETRY),
        (500, AttemptResult.RETRY),
        (503, AttemptResult.RETRY),
        (None, AttemptResult.RETRY),
    ],
)
def test_classify(status: int | None, result: AttemptResult) -> None:
    assert classify(status) is result


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base_seconds=10, max_seconds=300)
    rng = random.Random(7)
    for attempts, capped in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (20, 300)]:
        delays = [policy.delay(attempts, rng=rng) for _ in range(50)]
        assert all(capped / 2 <= delay <= capped for delay in delays)
        assert len(set(delays)) > 1  # jittered, not lockstep


def test_no_retry_past_the_give_up_time() -> None:
    policy = RetryPolicy(base_seconds=60, max_seconds=3600, give_up_after=timedelta(hours=24))
    now = datetime(2025, 3, 10, tzinfo=UTC)
    assert policy.next_attempt(attempts=1, now=now, give_up_at=now + timedelta(hours=1))
    assert policy.next_attempt(attempts=1, now=now, give_up_at=now + timedelta(seconds=10)) is None
