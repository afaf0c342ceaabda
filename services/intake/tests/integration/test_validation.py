"""Bad input: 422 problems naming each field (English and Chinese), 413 for big bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.integration


async def problem_fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/validation")
    assert problem["status"] == 422
    for error in problem["errors"]:
        assert error["message"] and error["message_zh"]
    return {error["field"]: error["code"] for error in problem["errors"]}


async def test_domain_rules_are_named_by_field(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    person_application["applicant"]["identifier"] = "110105194912310021"
    person_application["contact"]["mobile"] = "12812345678"
    person_application["materials"].append({"code": "passport", "reference": "doc://3"})

    response = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )

    assert await problem_fields(response) == {
        "applicant.identifier": "check_digit",
        "contact.mobile": "format",
        "materials.2.code": "unknown_material",
    }
    assert "校验码" in response.text
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM intake.applications WHERE integrator_id = $1", integrator.id
        )
        == 0
    )


async def test_an_unknown_matter_and_a_wrong_applicant_kind(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    unknown = {**person_application, "matter_code": "fishing-licence"}
    assert await problem_fields(
        await client.post("/v1/applications", json=unknown, headers=integrator.headers)
    ) == {"matter_code": "unknown_matter"}

    # No form: the household transfer's fields are not business start-up's.
    wrong_kind = {
        **person_application,
        "matter_code": "business-startup",
        "materials": [],
        "form": {},
    }
    assert await problem_fields(
        await client.post("/v1/applications", json=wrong_kind, headers=integrator.headers)
    ) == {"applicant.kind": "kind_not_allowed"}


async def test_structure_errors_are_named_by_field(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    del person_application["applicant"]["name"]
    person_application["applicant"]["kind"] = "robot"
    person_application["contact"]["channels"] = ["fax"]
    person_application["unexpected"] = True

    fields = await problem_fields(
        await client.post("/v1/applications", json=person_application, headers=integrator.headers)
    )

    assert fields == {
        "applicant.name": "missing",
        "applicant.kind": "literal_error",
        "contact.channels.0": "literal_error",
        "unexpected": "extra_forbidden",
    }


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (b"", "application/json"),
    ],
)
async def test_bodies_that_are_not_an_application_object(
    client: httpx.AsyncClient, integrator: Any, content: bytes, content_type: str
) -> None:
    response = await client.post(
        "/v1/applications",
        content=content,
        headers={**integrator.headers, "Content-Type": content_type},
    )
    await problem_fields(response)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"matter_code=x", "application/x-www-form-urlencoded"),
        (b"{}", "text/plain"),
        (b"{}", "application/json; charset=latin-1"),
    ],
)
async def test_bodies_of_another_media_type_are_refused(
    client: httpx.AsyncClient, integrator: Any, content: bytes, content_type: str
) -> None:
    response = await client.post(
        "/v1/applications",
        content=content,
        headers={**integrator.headers, "Content-Type": content_type},
    )
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/unsupported-media-type")


async def test_duplicate_keys_are_refused(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    # The second `matter_code` would win in Python, the first in some other parsers.
    body = json.dumps(person_application)[:-1] + ', "matter_code": "business-startup"}'
    response = await client.post(
        "/v1/applications",
        content=body.encode(),
        headers={**integrator.headers, "Content-Type": "application/json"},
    )
    assert await problem_fields(response) == {"body": "duplicate_key"}


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    person_application["form"] = {"notes": "x" * 300_000}
    response = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/payload-too-large")


async def test_a_streamed_body_over_the_limit_is_refused(
    client: httpx.AsyncClient, integrator: Any
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"form": {"notes": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}}'

    response = await client.post(
        "/v1/applications",
        content=chunks(),
        headers={**integrator.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("replace", "field"),
    [
        (('"form":{"destination":"杭州市西湖区"}', '"form":{"area":NaN}'), "form"),
        (('"form":{"destination":"杭州市西湖区"}', '"form":{"area":Infinity}'), "form"),
        (("杭州市西湖区", "\\u0000"), "form"),
        (('"destination"', '"\\ud800"'), "form"),
        (("张三丰", "张\\u0000"), "applicant.name"),
        (("doc://portal/1", "\\udfff"), "materials.0.reference"),
        (
            ('"form":{"destination":"杭州市西湖区"}', '"form":{"a":' + "[" * 40 + "]" * 40 + "}"),
            "form",
        ),
    ],
)
async def test_values_postgres_cannot_store_are_refused(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    replace: tuple[str, str],
    field: str,
) -> None:
    raw = json.dumps(person_application, ensure_ascii=False, separators=(",", ":"))
    assert replace[0] in raw
    content = raw.replace(replace[0], replace[1]).encode()
    response = await client.post(
        "/v1/applications",
        content=content,
        headers={**integrator.headers, "Content-Type": "application/json"},
    )
    assert field in await problem_fields(response)


@pytest.mark.parametrize("path", ["/v1/applications", "/v1/applications/{code}/rating"])
async def test_a_body_that_is_not_utf8_is_a_422_like_bad_json(
    client: httpx.AsyncClient, integrator: Any, path: str
) -> None:
    # FastAPI would answer 400, which the schema does not document (found by schemathesis).
    response = await client.post(
        path.format(code="330100-20250303-0004276"),
        content=b"\x10\xff\xfei",
        headers={**integrator.headers, "Content-Type": "application/json"},
    )
    assert await problem_fields(response) == {"body": "json_invalid"}


@pytest.mark.parametrize("value", ["0.5", "1741000000", "yesterday", "2025-03-03"])
async def test_list_filters_take_date_times_with_a_zone_only(
    client: httpx.AsyncClient, integrator: Any, value: str
) -> None:
    # Pydantic alone would read a number as seconds since 1970 (found by schemathesis).
    response = await client.get(
        "/v1/applications", params={"submitted_to": value}, headers=integrator.headers
    )
    assert "submitted_to" in await problem_fields(response)


async def test_an_idempotency_key_outside_visible_ascii_is_named(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/applications",
        json=person_application,
        headers={**integrator.headers, "Idempotency-Key": "key with spaces"},
    )
    assert await problem_fields(response) == {"Idempotency-Key": "string_pattern_mismatch"}


ORGANISATION = {
    "matter_code": "business-startup",
    "applicant": {"kind": "organisation", "name": "杭州示例科技有限公司", "identifier": ""},
    "contact": {"mobile": "13912345678"},
}


@pytest.mark.parametrize(
    ("kind", "identifier", "mobile", "expected"),
    [
        # Valid: GB 11643's own example, a Hangzhou number, published company codes,
        # mobile numbers of several operators' segments.
        ("person", "11010519491231002X", "13812345678", {}),
        ("person", "330106198001010013", "19912345678", {}),
        ("person", "440304199512081233", "16612345678", {}),
        ("person", "330106198001010015", "13812345678", {"applicant.identifier": "check_digit"}),
        ("organisation", "91350100M000100Y43", "15000000000", {}),
        ("organisation", "91330100716105852F", "17712345678", {}),
        # Invalid, each named by field and rule.
        ("person", "110105194912310021", "13812345678", {"applicant.identifier": "check_digit"}),
        ("person", "11010519491231002", "13812345678", {"applicant.identifier": "length"}),
        ("person", "110105199002300010", "13812345678", {"applicant.identifier": "birth_date"}),
        (
            "organisation",
            "91350100M000100Y44",
            "13812345678",
            {"applicant.identifier": "check_digit"},
        ),
        ("organisation", "91350100O000100Y43", "13812345678", {"applicant.identifier": "format"}),
        ("person", "11010519491231002X", "12812345678", {"contact.mobile": "format"}),
        ("person", "11010519491231002X", "+8613812345678", {"contact.mobile": "format"}),
        ("person", "11010519491231002X", "1381234567", {"contact.mobile": "format"}),
    ],
)
async def test_identifier_and_mobile_rules_through_the_api(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    kind: str,
    identifier: str,
    mobile: str,
    expected: dict[str, str],
) -> None:
    body = person_application if kind == "person" else json.loads(json.dumps(ORGANISATION))
    body["applicant"]["identifier"] = identifier
    body["contact"]["mobile"] = mobile
    response = await client.post("/v1/applications", json=body, headers=integrator.headers)
    if not expected:
        assert response.status_code == 201, response.text
    else:
        assert await problem_fields(response) == expected
