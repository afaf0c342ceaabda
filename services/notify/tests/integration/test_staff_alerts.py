"""Supervision alerts from the supervision-alerts topic reach department staff and the
supervision office named in the staff directory (data), each in their language, with the
application code and the days left or over, once, and with no applicant data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from onceonly.events.v1 import approval_pb2, supervision_pb2
from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.kafka import publish
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

DUE = datetime(2025, 3, 14, 15, 59, 59, tzinfo=UTC)
WINDOW, HEAD, OFFICE = "13911110001", "13922220002", "13933330009"


@pytest.fixture
def directory(tmp_path: Path) -> str:
    path = tmp_path / "staff.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "departments": {
                    "tax": [
                        {"name": "tax window", "mobile": WINDOW},
                        {
                            "name": "tax head",
                            "mobile": HEAD,
                            "alerts": ["escalation"],
                            "language": "en",
                            "channels": ["sms", "app"],
                        },
                    ]
                },
                "supervision_office": [{"name": "office", "mobile": OFFICE}],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture
async def staff_runtime(
    settings: NotifySettings, pool: asyncpg.Pool, directory: str
) -> AsyncIterator[NotifyRuntime]:
    started = NotifyRuntime(
        settings.model_copy(update={"notify_staff_directory": directory}), pool=pool
    )
    await started.start()
    yield started
    await started.stop()


def _alert(code: str, level: int, *, seconds_left: int, escalation: int = 0, dept: str = "tax"):
    alert = supervision_pb2.SupervisionAlert(
        application_code=code,
        matter_code="business-startup",
        department_code=dept,
        level=level,
        escalation=escalation,
        seconds_left=seconds_left,
        clock=approval_pb2.Clock(committed_days=3, day_kind="working"),
        actor=approval_pb2.Actor(kind="system", id="workflow"),
    )
    alert.clock.due_at.FromDatetime(DUE)
    return alert


async def _messages(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        """
        SELECT d.event_id, d.channel, d.recipient_masked, d.template, d.language, d.status,
               m.body, m.recipient_sealed
        FROM notify.deliveries d
        JOIN notify.local_messages m ON m.id::text = d.provider_message_id
        WHERE d.application_code = $1 ORDER BY d.created_at
        """,
        code,
    )


def _masked(mobile: str) -> str:
    return mobile[:-4] + "****"


async def test_each_alert_reaches_the_right_staff_once_in_their_language(
    staff_runtime: NotifyRuntime, producer: AIOKafkaProducer, pool: asyncpg.Pool, events
) -> None:
    code = events.code()
    yellow = events.envelope(
        _alert(code, supervision_pb2.SUPERVISION_LEVEL_YELLOW, seconds_left=20 * 3600), code
    )
    red = events.envelope(
        _alert(code, supervision_pb2.SUPERVISION_LEVEL_RED, seconds_left=-3600), code
    )
    escalation = events.envelope(
        _alert(code, supervision_pb2.SUPERVISION_LEVEL_RED, seconds_left=-2 * 86400, escalation=1),
        code,
    )
    overall = events.envelope(
        _alert(code, supervision_pb2.SUPERVISION_LEVEL_RED, seconds_left=-60, dept=""), code
    )
    back = events.envelope(
        _alert(code, supervision_pb2.SUPERVISION_LEVEL_NONE, seconds_left=86400), code
    )
    alerts = [yellow, red, escalation, overall, back]
    for envelope in alerts:
        await publish(producer, staff_runtime.supervision_topic, envelope)
    await publish(producer, staff_runtime.supervision_topic, red)  # redelivered

    expected = {
        (yellow.id, "sms", _masked(WINDOW)),
        (red.id, "sms", _masked(WINDOW)),
        (red.id, "sms", _masked(OFFICE)),
        (escalation.id, "sms", _masked(WINDOW)),
        (escalation.id, "sms", _masked(HEAD)),
        (escalation.id, "app", _masked(HEAD)),
        (escalation.id, "sms", _masked(OFFICE)),
        (overall.id, "sms", _masked(OFFICE)),
    }
    rows = await eventually(
        lambda: _messages(pool, code),
        lambda rows: len(rows) >= len(expected) and all(r["status"] == "sent" for r in rows),
        what="every staff message",
    )
    assert {(r["event_id"], r["channel"], r["recipient_masked"]) for r in rows} == expected
    assert len(rows) == len(expected)  # the redelivered red alert sent nothing new
    bodies = {(r["event_id"], r["recipient_masked"], r["channel"]): r["body"] for r in rows}
    assert bodies[(yellow.id, _masked(WINDOW), "sms")] == (
        f"【政务服务】【黄牌预警】办件{code}（企业开办一件事）税务局环节剩余1天到期"
        "（承诺时限2025年3月14日），请抓紧办理。"
    )
    assert bodies[(red.id, _masked(OFFICE), "sms")] == (
        f"【政务服务】【红牌警告】办件{code}（企业开办一件事）税务局环节已超期1天"
        "（承诺时限2025年3月14日），请立即办理。"
    )
    assert bodies[(escalation.id, _masked(HEAD), "app")] == (
        f"[Gov Services] [Escalation 1] Application {code} (Business start-up), Tax Bureau:"
        " 2 day(s) overdue (due 2025-03-14). Act now and report the reason."
    )
    assert "办件整体" in bodies[(overall.id, _masked(OFFICE), "sms")]
    # Nothing about the applicant: no name, no number, only the application code.
    for row in rows:
        # (the code is random hex: "138" may well be in it)
        assert "138" not in row["body"].replace(code, "")
    assert {r["template"] for r in rows} == {
        "supervision.yellow",
        "supervision.red",
        "supervision.escalation",
    }
    assert all(r["status"] == "sent" for r in rows)


async def test_the_legal_limit_and_a_special_procedure_overrun_reach_staff_not_the_applicant(
    staff_runtime: NotifyRuntime, producer: AIOKafkaProducer, pool: asyncpg.Pool, events
) -> None:
    code = events.code()
    legal_alert = _alert(code, supervision_pb2.SUPERVISION_LEVEL_LEGAL, seconds_left=-5 * 86400)
    legal_alert.legal_due_at.FromDatetime(datetime(2025, 3, 19, 15, 59, 59, tzinfo=UTC))
    legal = events.envelope(legal_alert, code)
    overrun_message = supervision_pb2.SpecialProcedureOverrun(
        application_code=code,
        matter_code="business-startup",
        department_code="tax",
        kind="expert_review",
        max_days=20,
        day_kind="working",
        actor=approval_pb2.Actor(kind="system", id="workflow"),
    )
    overrun_message.due_at.FromDatetime(DUE)
    overrun = events.envelope(overrun_message, code)
    for envelope in (legal, overrun):
        await publish(producer, staff_runtime.supervision_topic, envelope)

    # The head hears of escalations only (its directory entry): not of these.
    expected = {
        (legal.id, "sms", _masked(WINDOW)),
        (legal.id, "sms", _masked(OFFICE)),
        (overrun.id, "sms", _masked(WINDOW)),
        (overrun.id, "sms", _masked(OFFICE)),
    }
    rows = await eventually(
        lambda: _messages(pool, code),
        lambda rows: len(rows) >= len(expected) and all(r["status"] == "sent" for r in rows),
        what="the staff messages",
    )
    assert {(r["event_id"], r["channel"], r["recipient_masked"]) for r in rows} == expected
    bodies = {(r["event_id"], r["recipient_masked"]): r["body"] for r in rows}
    assert "【超法定时限】" in bodies[(legal.id, _masked(OFFICE))]
    assert "2025年3月19日" in bodies[(legal.id, _masked(OFFICE))]
    assert "专家评审已超过20天" in bodies[(overrun.id, _masked(OFFICE))]
    assert {r["template"] for r in rows} == {"supervision.legal", "supervision.special_procedure"}
