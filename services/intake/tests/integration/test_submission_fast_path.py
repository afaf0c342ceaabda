"""POST /v1/applications: a well-formed submission is answered by the fast path, anything
else by the route; both answer a request alike (the same body, headers, stored answer
and problems), and the route's name reaches the request metrics either way."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration

# A query string sends the request to the route (the fast path takes none).
ROUTE = "/v1/applications?via=route"
FAST = "/v1/applications"


def served(path: str) -> float:
    value = REGISTRY.get_sample_value("onceonly_intake_submission_path_total", {"path": path})
    return value or 0.0


def requests_seconds(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "onceonly_http_request_duration_seconds_count",
        {"service": "intake", "method": "POST", "route": "/v1/applications", "status": status},
    )
    return value or 0.0


async def test_a_well_formed_submission_is_answered_by_the_fast_path(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    fast, route, timed = served("fast"), served("route"), requests_seconds("201")

    answer = await client.post(FAST, json=person_application, headers=integrator.headers)

    assert answer.status_code == 201, answer.text
    assert (served("fast"), served("route")) == (fast + 1, route)
    # The metrics name the route as they do for the route's own answers.
    assert requests_seconds("201") == timed + 1
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"content": b'{"matter_code": "a", "matter_code": "b"}'}, 422, "duplicate_key"),
        ({"content": b'{"matter_code": '}, 422, "json_invalid"),
        ({"json": {"matter_code": "household-transfer"}}, 422, "missing"),
        ({"headers": {"Content-Type": "text/plain"}}, 415, None),
        ({"headers": {"Idempotency-Key": "has space"}}, 422, None),
    ],
)
async def test_a_request_of_another_shape_goes_on_to_the_route(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    change: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    headers = {
        **integrator.headers,
        "Content-Type": "application/json",
        **change.get("headers", {}),
    }
    content = change.get("content")
    if content is None:
        content = json.dumps(change.get("json", person_application)).encode()
    fast, route = served("fast"), served("route")

    answer = await client.post(FAST, content=content, headers=headers)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if code is not None:
        assert code in {error["code"] for error in answer.json()["errors"]}
    assert (served("fast"), served("route")) == (fast, route + 1)


async def test_both_paths_give_one_answer_to_one_request(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}

    first = await client.post(FAST, json=person_application, headers=headers)
    # The retry through the route finds the fast path's stored answer: one fingerprint.
    retry = await client.post(ROUTE, json=person_application, headers=headers)
    other = await client.post(ROUTE, json=person_application, headers=integrator.headers)

    assert first.status_code == retry.status_code == other.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert other.json().keys() == first.json().keys()
    assert {name for name in other.headers if name != "content-length"} == {
        name for name in first.headers if name != "content-length"
    }


@pytest.mark.parametrize(
    ("credentials", "body_change", "status"),
    [
        ("Bearer oo_unknown_key", {}, 401),
        ("Basic dXNlcjpwYXNz", {}, 401),
        (None, {}, 401),
        # Valid in shape, refused by the service (the catalogue has no such matter).
        ("valid", {"matter_code": "no-such-matter"}, 422),
    ],
)
async def test_refusals_past_the_shape_are_the_routes_own(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    credentials: str | None,
    body_change: dict[str, Any],
    status: int,
) -> None:
    headers = {}
    if credentials is not None:
        headers["Authorization"] = (
            integrator.headers["Authorization"] if credentials == "valid" else credentials
        )
    body = {**person_application, **body_change}
    fast = served("fast")

    by_fast_path = await client.post(FAST, json=body, headers=headers)
    by_route = await client.post(ROUTE, json=body, headers=headers)

    assert served("fast") == fast + 1
    assert by_fast_path.status_code == by_route.status_code == status
    assert by_fast_path.json() == by_route.json()
    assert by_fast_path.headers["content-type"] == by_route.headers["content-type"]
