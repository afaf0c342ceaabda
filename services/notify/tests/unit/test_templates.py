"""Citizen texts: every event type in both languages, and the template data's checks."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from importlib import resources

import pytest
import yaml

from onceonly.catalogue import Catalogue
from onceonly.events.v1 import approval_pb2, notification_pb2
from onceonly.notify.errors import TemplateError
from onceonly.notify.templates import (
    TEMPLATE_FIELDS,
    default_templates,
    normalise_language,
    parse_templates,
    render,
)

CODE = "HZ-20250303-0001"
ZH = "【政务服务】"
EN = "[Gov Services] "


def _text(message: object, language: str, catalogue: Catalogue) -> str:
    rendered = render(message, language, catalogue)  # type: ignore[arg-type]
    assert rendered is not None
    return rendered.text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh", f"{ZH}您的办件{CODE}（企业开办一件事）已受理，承诺2025年3月14日前办结。"),
        (
            "en",
            f"{EN}Your application {CODE} (Business start-up) is accepted"
            " and will be completed by 2025-03-14.",
        ),
    ],
)
def test_accepted_names_the_matter_and_the_committed_date(
    events, catalogue, language: str, expected: str
) -> None:
    rendered = render(events.accepted(CODE, language=language), language, catalogue)
    assert rendered is not None
    assert rendered.template == "application_accepted.accepted"
    assert rendered.language == language
    assert rendered.text == expected


def test_the_due_date_is_the_date_in_beijing_not_in_utc(events, catalogue) -> None:
    # 16:30 UTC on the 14th is half past midnight on the 15th in Beijing.
    late = datetime(2025, 3, 14, 16, 30, tzinfo=UTC)
    assert "2025年3月15日" in _text(events.accepted(CODE, due_at=late), "zh", catalogue)
    assert "2025-03-15" in _text(events.accepted(CODE, due_at=late), "en", catalogue)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "zh",
            f"{ZH}您的办件{CODE}（企业开办一件事）已容缺受理，承诺2025年3月14日前办结。"
            "请在办结前补交：住所使用证明、印章印模。",
        ),
        (
            "en",
            f"{EN}Your application {CODE} (Business start-up) is accepted with items outstanding"
            " and will be completed by 2025-03-14. Before completion, please provide:"
            " Proof of business premises, Seal specimen.",
        ),
    ],
)
def test_accepted_with_deficiency_lists_what_must_follow(
    events, catalogue, language: str, expected: str
) -> None:
    message = events.accepted(
        CODE,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY,
        missing=("premises-proof", "seal-specimen"),
    )
    assert _text(message, language, catalogue) == expected


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("zh", "公司登记（备案）申请书、公司章程、法定代表人身份证明"),
        (
            "en",
            "Company registration application form, Articles of association,"
            " Legal representative's identity document",
        ),
    ],
)
def test_supplement_request_lists_every_missing_material_at_once(
    events, catalogue, language: str, names: str
) -> None:
    message = events.accepted(
        CODE,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
        missing=("registration-form", "articles-of-association", "legal-rep-id"),
        due_at=None,
    )
    # Requested at 20:00 UTC on 3 March: 4 March in Beijing, so due 24 March (20 days).
    requested = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    rendered = render(message, language, catalogue, occurred_at=requested)
    assert rendered is not None
    assert rendered.template == "application_accepted.supplement_requested"
    assert names in rendered.text
    assert CODE in rendered.text
    assert ("2025年3月24日前" if language == "zh" else "By 2025-03-24") in rendered.text
    undated = render(message, language, catalogue)
    assert undated is not None
    assert undated.template == "application_accepted.supplement_requested.undated"
    assert names in undated.text


def test_a_department_supplement_request_gives_its_deadline(events, catalogue) -> None:
    message = events.decided(
        CODE, outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED, reason="欠缴税款"
    )
    requested = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    zh = render(message, "zh", catalogue, occurred_at=requested)
    en = render(message, "en", catalogue, occurred_at=requested)
    assert zh is not None and en is not None
    assert zh.text == (
        f"{ZH}您的办件{CODE}：税务局要求补正：欠缴税款。"
        "请于2025年3月23日前补正，补正期间该环节暂停计时。"
    )
    assert en.text == (
        f"{EN}Your application {CODE}: Tax Bureau asks for more material: 欠缴税款."
        " Please provide it by 2025-03-23; its time limit is paused until then."
    )


def test_an_unknown_material_code_is_shown_as_is(events, catalogue) -> None:
    message = events.accepted(
        CODE,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
        missing=("registration-form", "notarised-lease"),
    )
    assert "公司登记（备案）申请书、notarised-lease" in _text(message, "zh", catalogue)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh", f"{ZH}您的办件{CODE}（企业开办一件事）不予受理，原因：不属于本机关受理范围。"),
        (
            "en",
            f"{EN}Your application {CODE} (Business start-up) was not accepted."
            " Reason: outside this office's remit.",
        ),
    ],
)
def test_refusal_gives_the_reason(events, catalogue, language: str, expected: str) -> None:
    reason = "不属于本机关受理范围。" if language == "zh" else "outside this office's remit."
    message = events.accepted(
        CODE, outcome=approval_pb2.ACCEPTANCE_OUTCOME_REFUSED, reason=reason, due_at=None
    )
    # The reason's own full stop is not doubled by the template's.
    assert _text(message, language, catalogue) == expected


def test_a_window_refusal_gives_its_decision_basis_and_appeal_route(events, catalogue) -> None:
    message = events.accepted(
        CODE, outcome=approval_pb2.ACCEPTANCE_OUTCOME_REFUSED, reason="场所不在本辖区", due_at=None
    )
    message.decision_number = f"BYSL-{CODE}"
    message.legal_basis = "《食品经营许可和备案管理办法》第十五条"
    assert _text(message, "zh", catalogue) == (
        f"{ZH}您的办件{CODE}（企业开办一件事）不予受理（决定书BYSL-{CODE}），原因：场所不在本辖区；"
        "依据：《食品经营许可和备案管理办法》第十五条。如有异议，"
        "可自收到本决定之日起60日内申请行政复议，或6个月内提起行政诉讼。"
    )
    message.appeal_route = "向市人民政府申请行政复议。"
    english = _text(message, "en", catalogue)
    assert english.startswith(f"{EN}Your application {CODE} (Business start-up) was not accepted")
    assert f"(decision BYSL-{CODE})" in english
    assert english.endswith("To contest it: 向市人民政府申请行政复议.")


def test_a_refusal_without_reason_says_so(events, catalogue) -> None:
    message = events.accepted(CODE, outcome=approval_pb2.ACCEPTANCE_OUTCOME_REFUSED)
    assert _text(message, "zh", catalogue).endswith("原因：未说明。")
    assert _text(message, "en", catalogue).endswith("Reason: not stated.")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_accepted_without_a_deadline_uses_the_undated_text(events, catalogue, language) -> None:
    rendered = render(events.accepted(CODE, due_at=None), language, catalogue)
    assert rendered is not None
    assert rendered.template == "application_accepted.accepted.undated"
    assert "2025" not in rendered.text.replace(CODE, "")


@pytest.mark.parametrize(
    ("outcome", "language", "expected"),
    [
        (
            approval_pb2.DECISION_OUTCOME_APPROVED,
            "zh",
            f"{ZH}您的办件{CODE}：税务局已审批通过。",
        ),
        (
            approval_pb2.DECISION_OUTCOME_APPROVED,
            "en",
            f"{EN}Your application {CODE}: Tax Bureau has approved its part.",
        ),
        (
            approval_pb2.DECISION_OUTCOME_REJECTED,
            "zh",
            f"{ZH}您的办件{CODE}：税务局决定不予许可，原因：欠缴税款。",
        ),
        (
            approval_pb2.DECISION_OUTCOME_REJECTED,
            "en",
            f"{EN}Your application {CODE}: Tax Bureau has refused its part. Reason: 欠缴税款.",
        ),
        (
            approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
            "zh",
            f"{ZH}您的办件{CODE}：税务局要求补正：欠缴税款。补正期间该环节暂停计时。",
        ),
        (
            approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
            "en",
            f"{EN}Your application {CODE}: Tax Bureau asks for more material: 欠缴税款."
            " Its time limit is paused until then.",
        ),
    ],
)
def test_task_decision_names_the_department_from_the_catalogue(
    events, catalogue, outcome: int, language: str, expected: str
) -> None:
    message = events.decided(CODE, outcome=outcome, reason="欠缴税款")
    assert _text(message, language, catalogue) == expected


def test_an_unknown_department_is_shown_by_its_code(events, catalogue) -> None:
    message = events.decided(CODE, department="port-authority")
    assert "port-authority已审批通过" in _text(message, "zh", catalogue)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "zh",
            f"{ZH}您的办件{CODE}（企业开办一件事）已办结，电子证照编号EL-{CODE}，"
            "可在政务服务平台下载，或凭办件编码到政务服务中心窗口领取纸质证照。",
        ),
        (
            "en",
            f"{EN}Your application {CODE} (Business start-up) is complete."
            f" E-licence number EL-{CODE}, downloadable from the government service portal;"
            " the paper licence can be collected at the service centre with the"
            " application code.",
        ),
    ],
)
def test_completion_gives_the_elicence_number(
    events, catalogue, language: str, expected: str
) -> None:
    assert _text(events.completed(CODE), language, catalogue) == expected


def test_completion_without_elicence_uses_its_own_text(events, catalogue) -> None:
    rendered = render(events.completed(CODE, elicence_number=""), "zh", catalogue)
    assert rendered is not None
    assert rendered.template == "application_completed.no_licence"
    assert "电子证照" not in rendered.text


@pytest.mark.parametrize(
    ("language", "fragments"),
    [
        (
            "zh",
            [
                "（市场监督管理局）",
                "原因：经营范围涉及前置许可。",
                "60日内申请行政复议",
                "6个月内提起行政诉讼",
            ],
        ),
        (
            "en",
            [
                "(Administration for Market Regulation)",
                "Reason: 经营范围涉及前置许可.",
                "administrative reconsideration within 60 days",
                "sue within 6 months",
            ],
        ),
    ],
)
def test_rejection_gives_the_reason_and_how_to_appeal(
    events, catalogue, language: str, fragments: list[str]
) -> None:
    text = _text(events.rejected(CODE), language, catalogue)
    assert CODE in text
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh", f"{ZH}您的办件{CODE}已按您的申请撤回，各审批环节已终止。"),
        (
            "en",
            f"{EN}Your application {CODE} has been withdrawn at your request;"
            " all approval steps have stopped.",
        ),
    ],
)
def test_withdrawal(events, catalogue, language: str, expected: str) -> None:
    assert _text(events.withdrawn(CODE), language, catalogue) == expected


def test_events_the_applicant_is_not_told_about_render_nothing(events, catalogue) -> None:
    assert render(events.task_started(CODE), "zh", catalogue) is None
    cancelled = approval_pb2.TaskCancelled(application_code=CODE, department_code="tax")
    assert render(cancelled, "zh", catalogue) is None
    outcome = notification_pb2.NotificationSent(application_code=CODE)
    assert render(outcome, "en", catalogue) is None


def test_an_unspecified_outcome_is_an_error_not_silence(events, catalogue) -> None:
    accepted = events.accepted(CODE, outcome=approval_pb2.ACCEPTANCE_OUTCOME_UNSPECIFIED)
    with pytest.raises(TemplateError, match="ApplicationAccepted"):
        render(accepted, "zh", catalogue)
    decided = events.decided(CODE, outcome=approval_pb2.DECISION_OUTCOME_UNSPECIFIED)
    with pytest.raises(TemplateError, match="TaskDecided"):
        render(decided, "en", catalogue)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("zh", "zh"),
        ("en", "en"),
        ("en-GB", "en"),
        ("EN_us", "en"),
        ("zh-CN", "zh"),
        ("", "zh"),
        ("fr", "zh"),
    ],
)
def test_language_falls_back_to_chinese(given: str, expected: str) -> None:
    assert normalise_language(given, default_templates()) == expected


def test_an_unknown_language_renders_in_chinese(events, catalogue) -> None:
    rendered = render(events.withdrawn(CODE), "fr", catalogue)
    assert rendered is not None
    assert rendered.language == "zh"
    assert rendered.text.startswith(ZH)


# -- the template data -------------------------------------------------------------------


def _raw() -> dict:
    from importlib import resources

    text = resources.files("onceonly.notify").joinpath("templates.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def test_the_shipped_templates_cover_every_key_in_both_languages() -> None:
    templates = default_templates()
    assert templates.default_language == "zh"
    assert set(templates.languages) == {"zh", "en"}
    for pack in templates.languages.values():
        assert set(pack.templates) == set(TEMPLATE_FIELDS)


def test_a_language_missing_a_template_is_refused() -> None:
    raw = copy.deepcopy(_raw())
    del raw["languages"]["en"]["templates"]["application_withdrawn"]
    with pytest.raises(TemplateError, match="en: template application_withdrawn is missing"):
        parse_templates(raw)


def test_a_placeholder_the_template_does_not_get_is_refused() -> None:
    raw = copy.deepcopy(_raw())
    raw["languages"]["zh"]["templates"]["application_withdrawn"] = (
        "撤回：{application_code}，{mobile}"
    )
    with pytest.raises(TemplateError, match=r"application_withdrawn uses unknown \['mobile'\]"):
        parse_templates(raw)


def test_an_unknown_template_key_is_refused() -> None:
    raw = copy.deepcopy(_raw())
    raw["languages"]["en"]["templates"]["application_teleported"] = "Beam {application_code}"
    with pytest.raises(TemplateError, match="application_teleported is not a known template"):
        parse_templates(raw)


def test_the_default_language_must_be_defined() -> None:
    raw = copy.deepcopy(_raw())
    raw["default_language"] = "fr"
    with pytest.raises(TemplateError, match="default_language 'fr'"):
        parse_templates(raw)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh", f"{ZH}您的办件{CODE}补正材料（2份）已收到，审批继续进行。"),
        (
            "en",
            f"{EN}Your application {CODE}: we have received your supplement (2 items);"
            " the approval goes on.",
        ),
    ],
)
def test_supplement_received(catalogue, language: str, expected: str) -> None:
    from onceonly.events.v1 import application_pb2

    message = application_pb2.SupplementProvided(
        application_code=CODE,
        materials=[
            application_pb2.Material(code="seal-specimen", reference="doc-1"),
            application_pb2.Material(code="premises-proof", reference="doc-2"),
        ],
    )
    assert _text(message, language, catalogue) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "zh",
            f"{ZH}您的办件{CODE}（企业开办一件事）已办结，"
            "欢迎通过政务服务平台对本次服务进行评价（好差评）。",
        ),
        (
            "en",
            f"{EN}Your application {CODE} (Business start-up) is complete."
            " Please rate our service on the government service portal.",
        ),
    ],
)
def test_rating_invitation(events, catalogue, language: str, expected: str) -> None:
    from onceonly.notify.templates import render_rating_invitation

    rendered = render_rating_invitation(events.completed(CODE), language, catalogue)
    assert (rendered.template, rendered.text) == ("rating_invitation", expected)


def test_long_chinese_texts_are_counted_in_67_character_segments(events, catalogue) -> None:
    from onceonly.notify.sms import measure

    rejected = _text(events.rejected(CODE), "zh", catalogue)
    length = measure(rejected)
    assert len(rejected) > 70
    assert length.units == len(rejected)
    assert length.segments == -(-len(rejected) // 67)
    assert measure(_text(events.withdrawn(CODE), "zh", catalogue)).segments == 1


def test_a_supplement_request_lists_its_materials_and_the_events_deadline(
    events, catalogue
) -> None:
    message = events.decided(
        CODE, outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED, reason="图纸不清"
    )
    message.missing_materials.extend(["fire-design", "site-plan"])
    # The deadline the workflow set, not one counted here from the event's time.
    message.supplement_due_at.FromDatetime(datetime(2025, 4, 1, 15, 59, 59, tzinfo=UTC))
    zh = _text(message, "zh", catalogue)
    assert "请于2025年4月1日前一次补齐：消防设计文件、总平面图" in zh, zh
    en = _text(message, "en", catalogue)
    assert "By 2025-04-01, please provide all of: Fire protection design" in en, en


def test_an_approved_extension_tells_the_applicant_and_a_refused_one_does_not(
    events, catalogue
) -> None:
    extension = approval_pb2.ExtensionDecided(
        application_code=CODE,
        department_code="tax",
        approved=True,
        days=10,
        reason="需专家论证",
        clock=events.clock(),
        contact=events.contact(CODE),
    )
    zh = _text(extension, "zh", catalogue)
    assert "税务局经批准延期10个工作日，原因：需专家论证" in zh, zh
    assert "10 more working days" in _text(extension, "en", catalogue)
    extension.approved = False
    assert render(extension, "zh", catalogue) is None


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "zh",
            f"{ZH}您的办件{CODE}（企业开办一件事）已受理，预计2027年1月4日前办结"
            "（节假日安排公布后可能调整）。",
        ),
        (
            "en",
            f"{EN}Your application {CODE} (Business start-up) is accepted and expected to be"
            " completed by 2027-01-04 (an estimate until the holiday schedule is published).",
        ),
    ],
)
def test_a_provisional_due_date_is_stated_as_an_estimate(
    events, catalogue, language: str, expected: str
) -> None:
    # Past the last published holiday notice: the date is expected, not promised.
    message = events.accepted(CODE, due_at=datetime(2027, 1, 4, 15, 59, 59, tzinfo=UTC))
    message.clock.provisional = True
    rendered = render(message, language, catalogue)
    assert rendered is not None
    assert rendered.template == "application_accepted.accepted.provisional"
    assert rendered.text == expected
    assert "承诺" not in rendered.text


def test_a_provisional_date_with_deficiency_and_after_an_extension_is_marked(
    events, catalogue
) -> None:
    deficient = events.accepted(
        CODE,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY,
        missing=("premises-proof",),
    )
    deficient.clock.provisional = True
    zh = render(deficient, "zh", catalogue)
    assert zh is not None
    assert zh.template == "application_accepted.accepted_with_deficiency.provisional"
    assert "已容缺受理，预计2025年3月14日前办结（节假日安排公布后可能调整）。" in zh.text
    assert "请在办结前补交：住所使用证明" in zh.text
    assert "(an estimate until the holiday schedule is published)" in _text(
        deficient, "en", catalogue
    )
    extension = approval_pb2.ExtensionDecided(
        application_code=CODE,
        department_code="tax",
        approved=True,
        days=10,
        reason="需专家论证",
        clock=events.clock(),
        contact=events.contact(CODE),
    )
    extension.clock.provisional = True
    zh = render(extension, "zh", catalogue)
    assert zh is not None and zh.template == "extension_approved.provisional"
    assert "该环节预计于2025年3月14日前办结（节假日安排公布后可能调整）。" in zh.text
    en = _text(extension, "en", catalogue)
    assert "now expected by 2025-03-14 (an estimate until the holiday schedule" in en, en


BASE = "https://zwfw.example.gov.cn"


@pytest.mark.parametrize(
    ("outcome", "missing"),
    [
        (approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED, ()),
        (approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY, ("seal-specimen",)),
        (approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED, ("premises-proof",)),
    ],
)
def test_the_acceptance_sms_links_the_progress_page_when_its_address_is_set(
    events, catalogue, outcome: int, missing: tuple[str, ...]
) -> None:
    message = events.accepted(CODE, outcome=outcome, missing=missing)
    plain = render(message, "zh", catalogue)
    zh = render(message, "zh", catalogue, progress_base_url=BASE + "/")
    en = render(message, "en", catalogue, progress_base_url=BASE)
    assert plain is not None and zh is not None and en is not None
    assert zh.template == plain.template  # the same template, with the link after it
    assert zh.text == plain.text + f"进度查询：{BASE}/progress/{CODE}"
    assert en.text.endswith(f" Progress: {BASE}/progress/{CODE}")
    assert "http" not in plain.text


def test_only_the_acceptance_sms_carries_the_link(events, catalogue) -> None:
    decided = render(events.decided(CODE), "zh", catalogue, progress_base_url=BASE)
    assert decided is not None and BASE not in decided.text


def test_a_progress_link_may_use_only_the_url(catalogue) -> None:
    shipped = resources.files("onceonly.notify").joinpath("templates.yaml")
    raw = yaml.safe_load(shipped.read_text("utf-8"))
    raw["languages"]["en"]["progress_link"] = " Progress: {url} for {application_code}"
    with pytest.raises(TemplateError, match="progress_link may only use url"):
        parse_templates(raw)
