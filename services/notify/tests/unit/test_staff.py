"""The staff directory (data) and the supervision alert texts, in both languages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onceonly.events.v1 import approval_pb2, supervision_pb2
from onceonly.notify.errors import TemplateError
from onceonly.notify.staff import DirectoryError, load_directory, parse_directory
from onceonly.notify.templates import alert_kind, default_templates, render_alert, render_overrun

CODE = "HZ-20250303-0001"
DUE = datetime(2025, 3, 14, 15, 59, 59, tzinfo=UTC)  # 14 March, end of day in Beijing

DIRECTORY = {
    "departments": {
        "tax": [
            {"name": "window", "mobile": "13900000001"},
            {"name": "head", "mobile": "13900000002", "alerts": ["escalation"], "language": "en"},
        ]
    },
    "supervision_office": [
        {"name": "office", "mobile": "13900000009", "channels": ["sms", "app"]},
        # Listed twice (also as tax staff): told once.
        {"name": "window again", "mobile": "13900000001"},
    ],
}


def _alert(level: int, *, seconds_left: int, escalation: int = 0, department: str = "tax"):
    alert = supervision_pb2.SupervisionAlert(
        application_code=CODE,
        matter_code="business-startup",
        department_code=department,
        level=level,
        escalation=escalation,
        seconds_left=seconds_left,
        clock=approval_pb2.Clock(committed_days=3, day_kind="working"),
    )
    alert.clock.due_at.FromDatetime(DUE)
    return alert


YELLOW = supervision_pb2.SUPERVISION_LEVEL_YELLOW
RED = supervision_pb2.SUPERVISION_LEVEL_RED


def _mobiles(people) -> list[str]:
    return [person.mobile for person in people]


def test_who_hears_of_what() -> None:
    directory = parse_directory(DIRECTORY)
    assert _mobiles(directory.recipients(department_code="tax", kind="yellow")) == ["13900000001"]
    assert _mobiles(directory.recipients(department_code="tax", kind="red")) == [
        "13900000001",
        "13900000009",
    ]
    assert _mobiles(directory.recipients(department_code="tax", kind="escalation")) == [
        "13900000001",
        "13900000002",
        "13900000009",
    ]
    # The overall clock, or a department nobody listed: the supervision office.
    assert _mobiles(directory.recipients(department_code="", kind="red")) == [
        "13900000009",
        "13900000001",
    ]
    assert directory.recipients(department_code="", kind="yellow") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mobile": "call me"}, "mobile must be digits"),
        ({"channels": ["fax"]}, "unknown channels"),
        ({"alerts": ["orange"]}, "unknown alerts"),
    ],
)
def test_a_malformed_directory_is_refused(change: dict, message: str) -> None:
    person = {"name": "x", "mobile": "13900000001", **change}
    with pytest.raises(DirectoryError, match=message):
        parse_directory({"departments": {"tax": [person]}})


def test_the_shipped_directory_covers_every_catalogue_department(catalogue) -> None:
    directory = load_directory()
    codes = {department.code for department in catalogue.departments}
    assert codes <= set(directory.departments)
    assert directory.supervision_office


@pytest.mark.parametrize(
    ("alert", "language", "template", "text"),
    [
        (
            _alert(YELLOW, seconds_left=20 * 3600),
            "zh",
            "supervision.yellow",
            f"【政务服务】【黄牌预警】办件{CODE}（企业开办一件事）税务局环节剩余1天到期"
            "（承诺时限2025年3月14日），请抓紧办理。",
        ),
        (
            _alert(YELLOW, seconds_left=20 * 3600),
            "en",
            "supervision.yellow",
            f"[Gov Services] [Yellow warning] Application {CODE} (Business start-up),"
            " Tax Bureau: 1 day(s) left (due 2025-03-14). Please act promptly.",
        ),
        (
            _alert(RED, seconds_left=-(2 * 86400 + 60)),
            "zh",
            "supervision.red",
            f"【政务服务】【红牌警告】办件{CODE}（企业开办一件事）税务局环节已超期3天"
            "（承诺时限2025年3月14日），请立即办理。",
        ),
        (
            _alert(RED, seconds_left=-86400, escalation=2, department=""),
            "en",
            "supervision.escalation",
            f"[Gov Services] [Escalation 2] Application {CODE} (Business start-up), the"
            " application as a whole: 1 day(s) overdue (due 2025-03-14). Act now and report"
            " the reason.",
        ),
        (
            _alert(RED, seconds_left=-86400, escalation=1),
            "zh",
            "supervision.escalation",
            f"【政务服务】【督办第1次】办件{CODE}（企业开办一件事）税务局环节已超期1天"
            "（承诺时限2025年3月14日），请立即办理并说明原因。",
        ),
    ],
)
def test_alert_texts_give_the_code_and_the_days(
    catalogue, alert, language: str, template: str, text: str
) -> None:
    rendered = render_alert(alert, language, catalogue)
    assert rendered is not None
    assert (rendered.template, rendered.text) == (template, text)


def test_a_clock_back_within_limits_tells_nobody_and_an_unspecified_level_is_an_error(
    catalogue,
) -> None:
    back = _alert(supervision_pb2.SUPERVISION_LEVEL_NONE, seconds_left=3600)
    assert render_alert(back, "zh", catalogue) is None
    with pytest.raises(TemplateError):
        alert_kind(_alert(supervision_pb2.SUPERVISION_LEVEL_UNSPECIFIED, seconds_left=0))


def test_red_alerts_and_supplement_requests_are_urgent_and_yellow_is_not() -> None:
    urgent = default_templates().urgent
    assert {"supervision.red", "supervision.escalation"} <= urgent
    assert "application_accepted.supplement_requested" in urgent
    assert "supervision.yellow" not in urgent
    assert "application_completed" not in urgent


def test_the_cli_checks_a_directory_without_showing_numbers(tmp_path) -> None:
    from typer.testing import CliRunner

    from onceonly.notify.cli import app

    good = tmp_path / "staff.yaml"
    good.write_text(
        'departments: {tax: [{mobile: "13911112222", alerts: [red]}]}\n'
        'supervision_office: [{mobile: "13933334444"}]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["staff-check", str(good)])
    assert result.exit_code == 0, result.output
    assert "tax: 1 contact(s), alerts red" in result.output
    assert "supervision office: 1 contact(s)" in result.output
    assert "1391111" not in result.output

    bad = tmp_path / "bad.yaml"
    bad.write_text('departments: {tax: [{mobile: "call me"}]}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["staff-check", str(bad)])
    assert result.exit_code == 2


LEGAL = supervision_pb2.SUPERVISION_LEVEL_LEGAL
LEGAL_DUE = datetime(2025, 3, 21, 15, 59, 59, tzinfo=UTC)


def test_past_the_legal_limit_the_supervision_office_and_the_department_are_told() -> None:
    directory = parse_directory(DIRECTORY)
    # The head listed for escalations only is not; a legal reminder is an escalation.
    assert _mobiles(directory.recipients(department_code="tax", kind="legal")) == [
        "13900000001",
        "13900000009",
    ]
    assert _mobiles(directory.recipients(department_code="", kind="legal")) == [
        "13900000009",
        "13900000001",
    ]
    legal = _alert(LEGAL, seconds_left=-5 * 86400)
    assert alert_kind(legal) == "legal"
    legal.escalation = 1
    assert alert_kind(legal) == "escalation"
    shipped = load_directory()
    assert all("legal" in person.alerts for person in shipped.supervision_office)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            "zh",
            f"【政务服务】【超法定时限】办件{CODE}（企业开办一件事）税务局环节已超过法定时限"
            "（2025年3月21日），承诺时限2025年3月14日已超期8天，已移送电子监察室督办。",
        ),
        (
            "en",
            f"[Gov Services] [Legal limit exceeded] Application {CODE} (Business start-up),"
            " Tax Bureau: past the legal limit (2025-03-21), 8 day(s) past the committed limit"
            " (due 2025-03-14). Escalated to the supervision office.",
        ),
    ],
)
def test_the_legal_alert_text_gives_both_deadlines(catalogue, language: str, text: str) -> None:
    legal = _alert(LEGAL, seconds_left=-(7 * 86400 + 1))
    legal.legal_due_at.FromDatetime(LEGAL_DUE)
    rendered = render_alert(legal, language, catalogue)
    assert rendered is not None
    assert (rendered.template, rendered.text) == ("supervision.legal", text)
    assert "supervision.legal" in default_templates().urgent


def test_a_special_procedure_overrun_names_the_procedure_and_its_maximum(catalogue) -> None:
    overrun = supervision_pb2.SpecialProcedureOverrun(
        application_code=CODE,
        matter_code="business-startup",
        department_code="tax",
        kind="hearing",
        max_days=20,
        day_kind="working",
    )
    overrun.due_at.FromDatetime(DUE)
    zh = render_overrun(overrun, "zh", catalogue)
    assert (zh.template, zh.text) == (
        "supervision.special_procedure",
        f"【政务服务】【特别程序超期】办件{CODE}（企业开办一件事）税务局环节的听证已超过20天"
        "的最长期限（2025年3月14日），请尽快结束并说明原因。",
    )
    en = render_overrun(overrun, "en", catalogue)
    assert "the hearing has run past its maximum of 20 day(s) (until 2025-03-14)" in en.text
    directory = parse_directory(DIRECTORY)
    assert _mobiles(directory.recipients(department_code="tax", kind="special_procedure")) == [
        "13900000001",
        "13900000009",
    ]


def test_an_alert_on_an_estimated_due_date_says_so_and_stays_as_urgent(catalogue) -> None:
    red = _alert(RED, seconds_left=-86400)
    red.clock.provisional = True  # past the published holiday calendar
    zh = render_alert(red, "zh", catalogue)
    assert zh is not None and zh.template == "supervision.red.provisional"
    assert "（承诺时限2025年3月14日，为预计日期，节假日安排公布后可能调整）" in zh.text
    yellow = _alert(YELLOW, seconds_left=20 * 3600)
    yellow.clock.provisional = True
    en = render_alert(yellow, "en", catalogue)
    assert en is not None and en.template == "supervision.yellow.provisional"
    assert "(due 2025-03-14, an estimate until the holiday schedule is published)" in en.text
    urgent = default_templates().urgent
    assert {"supervision.red.provisional", "supervision.escalation.provisional"} <= urgent
    assert "supervision.yellow.provisional" not in urgent
