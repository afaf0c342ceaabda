"""The answers' JSON: keys sorted, the same bytes as the project's canonical JSON."""

from __future__ import annotations

from onceonly.intake.api.dependencies import _sorted_json
from onceonly.platform.canonical_json import canonical_json

RECEIPT = {
    "status": "submitted",
    "application_code": "330100-20250303-0004276",
    "links": {"self": "/v1/applications/330100-20250303-0004276"},
    "matter_code": "household-transfer",
    "message": '已受理\n"ok"\t\u0001',
    "counts": [3, 0, -1],
    "fee": 12.5,
    "paid": False,
    "agent": None,
}


def test_an_answer_is_the_canonical_json_of_its_body() -> None:
    assert _sorted_json(RECEIPT) == canonical_json(RECEIPT).encode()


def test_what_orjson_refuses_is_still_answered_canonically() -> None:
    body = {2: "two", 1: 2**70}
    assert (
        _sorted_json(body)
        == canonical_json(body).encode()
        == b'{"1":1180591620717411303424,"2":"two"}'
    )
