"""The SMS that tells a 12345 caller their work order was answered."""

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import application_pb2, workorder_pb2
from onceonly.notify.sms import segment_count
from onceonly.notify.templates import render_work_order_answered

ANSWERED = workorder_pb2.WorkOrderAnswered(
    application_code="330100-20261201-0000017",
    order_code="WO330100-20261205-000001",
    department_code="public-security",
    reply="已为您办理户口迁移, 请到派出所领取",
    caller_mobile=application_pb2.SealedText(sealed="x", masked="1391234****"),
)


def test_zh_names_the_order_and_the_department_not_the_reply() -> None:
    rendered = render_work_order_answered(ANSWERED, "zh", default_catalogue())
    assert rendered.template == "work_order_answered"
    assert "WO330100-20261205-000001" in rendered.text
    department = default_catalogue().department("public-security")
    assert department is not None and department.name_zh in rendered.text
    assert "派出所领取" not in rendered.text  # the answer itself comes with the callback
    assert segment_count(rendered.text) <= 2


def test_en_and_unknown_language() -> None:
    assert "answered" in render_work_order_answered(ANSWERED, "en", default_catalogue()).text
    fallback = render_work_order_answered(ANSWERED, "fr", default_catalogue())
    assert fallback.language == "zh"
