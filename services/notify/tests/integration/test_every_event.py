"""Every event type the applicant hears of, through Kafka, in both languages: the right
template and text to the right number, one message each; then the whole batch delivered
again sends nothing new."""

from __future__ import annotations

import random

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.notify.runtime import NotifyRuntime
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration


async def _messages(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        """
        SELECT d.event_id, d.template, d.language, d.status, d.recipient_masked,
               m.body, m.recipient_sealed
        FROM notify.deliveries d
        JOIN notify.local_messages m ON m.idempotency_key = d.event_id || '/' || d.channel
                                                         || '/' || d.recipient_hash
        WHERE d.application_code = $1 AND d.channel = 'sms'
        """,
        code,
    )


def _batch(events, code: str, language: str, mobile: str) -> list[tuple[str, Envelope, str]]:
    """(topic kind, event, template) for each step of an application's life."""
    contact = {"language": language, "mobile": mobile}
    submitted = application_pb2.ApplicationSubmitted(
        application_code=code,
        matter_code="business-startup",
        integrator_id="portal",
        contact=events.contact(code, **contact),
    )
    supplement = application_pb2.SupplementProvided(
        application_code=code,
        materials=[application_pb2.Material(code="seal-specimen", reference="doc-1")],
    )
    envelope = events.envelope
    return [
        ("submissions", envelope(submitted, code), ""),
        (
            "approval",
            envelope(
                events.accepted(
                    code,
                    outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
                    missing=("seal-specimen", "articles-of-association"),
                    due_at=None,
                    **contact,
                ),
                code,
            ),
            "application_accepted.supplement_requested",
        ),
        ("updates", envelope(supplement, code), "supplement_received"),
        (
            "approval",
            envelope(events.accepted(code, **contact), code),
            "application_accepted.accepted",
        ),
        (
            "approval",
            envelope(events.decided(code, department="tax", **contact), code),
            "task_decided.approved",
        ),
        (
            "approval",
            envelope(
                events.decided(
                    code,
                    outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
                    reason="印章印模不清晰",
                    **contact,
                ),
                code,
            ),
            "task_decided.supplement_requested",
        ),
        ("approval", envelope(events.task_started(code), code), ""),  # nothing to tell
        ("approval", envelope(events.completed(code, **contact), code), "application_completed"),
        ("approval", envelope(events.rejected(code, **contact), code), "application_rejected"),
        ("approval", envelope(events.withdrawn(code, **contact), code), "application_withdrawn"),
    ]


@pytest.mark.parametrize(
    ("language", "fragments"),
    [
        (
            "zh",
            {
                "application_accepted.supplement_requested": [
                    "请于",
                    "前一次补齐",
                    "印章印模、公司章程",
                ],
                "supplement_received": ["补正材料（1份）已收到"],
                "application_accepted.accepted": ["已受理，承诺2025年3月14日前办结"],
                "task_decided.approved": ["税务局已审批通过"],
                "task_decided.supplement_requested": ["要求补正：印章印模不清晰", "前补正"],
                "application_completed": ["电子证照编号EL-", "窗口领取"],
                "rating_invitation": ["好差评"],
                "application_rejected": ["原因：经营范围涉及前置许可", "行政复议"],
                "application_withdrawn": ["已按您的申请撤回"],
            },
        ),
        (
            "en",
            {
                "application_accepted.supplement_requested": [
                    "please provide all of: Seal specimen, Articles of association"
                ],
                "supplement_received": ["received your supplement (1 items)"],
                "application_accepted.accepted": ["will be completed by 2025-03-14"],
                "task_decided.approved": ["Tax Bureau has approved its part"],
                "task_decided.supplement_requested": ["Please provide it by"],
                "application_completed": [
                    "E-licence number EL-",
                    "collected at the service centre",
                ],
                "rating_invitation": ["Please rate our service"],
                "application_rejected": ["administrative reconsideration"],
                "application_withdrawn": ["withdrawn at your request"],
            },
        ),
    ],
)
async def test_each_event_type_tells_the_applicant_once_in_their_language(
    runtime: NotifyRuntime,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
    language: str,
    fragments: dict[str, list[str]],
) -> None:
    mobile = f"136{random.randrange(10**8):08d}"
    code = events.code()
    topics = {
        "submissions": runtime.submissions_topic,
        "approval": runtime.source_topic,
        "updates": runtime.updates_topic,
    }
    batch = _batch(events, code, language, mobile)
    # The submission first, and seen, before the supplement that needs its contact
    # (two topics: no order between them otherwise).
    await publish(producer, topics["submissions"], batch[0][1])
    await eventually(
        lambda: pool.fetchval("SELECT 1 FROM notify.contacts WHERE application_code = $1", code),
        what="the contact recorded",
    )
    for kind, envelope, _ in batch[1:]:
        await publish(producer, topics[kind], envelope)
    expected = set(fragments)
    rows = await eventually(
        lambda: _messages(pool, code),
        lambda rows: (
            {r["template"] for r in rows} >= expected and all(r["status"] == "sent" for r in rows)
        ),
        what="a message for each event",
    )
    assert sorted(r["template"] for r in rows) == sorted(expected)  # one each
    for row in rows:
        assert row["language"] == language
        assert row["status"] == "sent"
        assert row["recipient_masked"] == mobile[:-4] + "****"
        assert events.sealer.open(row["recipient_sealed"], context=f"{code}:mobile") == mobile
        assert code in row["body"]
        assert mobile not in row["body"]
        for fragment in fragments[row["template"]]:
            assert fragment in row["body"], (row["template"], row["body"])
    by_template = {row["template"]: row["event_id"] for row in rows}
    for _, envelope, template in batch:
        if template:
            assert by_template[template] == envelope.id

    # The whole batch again: nothing new for anyone.
    for kind, envelope, _ in batch:
        await publish(producer, topics[kind], envelope)
    # A marker behind the batch on each topic that sends (order holds per partition).
    marker = events.envelope(events.withdrawn(code, language=language, mobile=mobile), code)
    await publish(producer, runtime.source_topic, marker)
    updates_marker = events.envelope(
        application_pb2.SupplementProvided(application_code=code), code
    )
    await publish(producer, runtime.updates_topic, updates_marker)
    rows = await eventually(
        lambda: _messages(pool, code),
        lambda rows: {marker.id, updates_marker.id} <= {r["event_id"] for r in rows},
        what="the markers after the redelivered batch",
    )
    assert len(rows) == len(expected) + 2
