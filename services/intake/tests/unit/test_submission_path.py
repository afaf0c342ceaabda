"""The fast path's two decisions: which requests it answers itself (the rest go on to
the route) and which of the app's exception handlers answers a refusal."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from starlette.datastructures import Headers

from onceonly.intake.api.submission_path import _accepted_shape, _handler_for
from onceonly.platform.http import Problem

APPLICATION: dict[str, Any] = {
    "matter_code": "household-transfer",
    "applicant": {"kind": "person", "name": "张三丰", "identifier": "11010519491231002X"},
    "contact": {"mobile": "13812345678", "channels": ["sms"], "language": "zh"},
    "materials": [{"code": "transfer-application", "reference": "doc://portal/1"}],
    "form": {"destination": "杭州市西湖区"},
}


def headers(**extra: str) -> Headers:
    return Headers({"content-type": "application/json", **extra})


def body(value: Any = None) -> bytes:
    return json.dumps(APPLICATION if value is None else value).encode()


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_a_json_submission_is_taken(content_type: str) -> None:
    taken = _accepted_shape(Headers({"content-type": content_type}), body())
    assert taken is not None
    assert taken.matter_code == "household-transfer"


def test_a_utf16_body_is_read_as_fastapi_reads_it() -> None:
    assert _accepted_shape(headers(), json.dumps(APPLICATION).encode("utf-16")) is not None


@pytest.mark.parametrize(
    ("given_headers", "given_body"),
    [
        (Headers({}), body()),
        (Headers({"content-type": "text/plain"}), body()),
        (Headers({"content-type": "application/json; charset=latin-1"}), body()),
        (headers(), None),  # the client went away before the body ended
        (headers(), b""),
        (headers(), b"{"),
        (headers(), b"\xff\xfe\xfd"),
        (headers(), b'{"matter_code": "a", "matter_code": "b"}'),
        (headers(), body({**APPLICATION, "matter_code": 7})),
        (headers(), body([APPLICATION])),
        (headers(**{"idempotency-key": "with space"}), body()),
        (headers(**{"idempotency-key": "x" * 256}), body()),
    ],
)
def test_any_other_shape_is_left_to_the_route(
    given_headers: Headers, given_body: bytes | None
) -> None:
    assert _accepted_shape(given_headers, given_body) is None


def test_a_well_formed_idempotency_key_is_taken() -> None:
    application = copy.deepcopy(APPLICATION)
    assert _accepted_shape(headers(**{"idempotency-key": "x" * 255}), body(application))


class NarrowProblem(Problem):
    pass


async def problem_handler(request: Any, exc: Exception) -> str:
    return "problem"


async def catch_all(request: Any, exc: Exception) -> str:
    return "500"


def test_the_nearest_handler_answers_and_the_catch_all_is_left_to_the_server() -> None:
    handlers = {Problem: problem_handler, Exception: catch_all, 500: catch_all}
    assert _handler_for(handlers, NarrowProblem(404, "Not found")) is problem_handler
    assert _handler_for(handlers, RuntimeError("bug")) is None
    assert _handler_for({}, NarrowProblem(404, "Not found")) is None
