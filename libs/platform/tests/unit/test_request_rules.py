"""The request rules every API installs, on a small app: control characters in query and
path values, instants outside 1970-2100, JSON bodies only as UTF-8 `application/json`
without duplicate keys, security headers, and database data errors as a 422 whose log
line holds no value."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import httpx
import pytest
from asyncpg.exceptions._base import DataError as ArgumentDataError
from fastapi import Body, FastAPI, Query
from pydantic import BaseModel
from structlog.testing import capture_logs

from onceonly.platform.http import install_problem_handlers
from onceonly.platform.request_rules import (
    BoundedDatetime,
    Instant,
    install_request_rules,
    json_media_type_accepted,
)

SECRET = "13812345678"


class Thing(BaseModel):
    name: str
    size: int = 0


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_request_rules(app)

    @app.get("/things/{code}")
    async def read(
        code: str,
        since: Annotated[Instant | None, Query()] = None,
        until: Annotated[BoundedDatetime | None, Query()] = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        return {"code": code, "since": since, "until": until}

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        return thing

    @app.post("/files")
    async def upload(
        file: Annotated[bytes, Body(media_type="application/pdf")],
    ) -> dict[str, int]:
        return {"size": len(file)}

    @app.post("/replay")
    async def replay() -> dict[str, str]:
        return {}

    @app.get("/postgres-data-error")
    async def postgres_data_error() -> None:
        raise asyncpg.CharacterNotInRepertoireError(
            f'invalid byte sequence for encoding "UTF8": 0x00 in {SECRET}'
        )

    @app.get("/argument-data-error")
    async def argument_data_error() -> None:
        raise ArgumentDataError(
            f"invalid input for query argument $3: {SECRET!r} (date value out of range)"
        )

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as created:
        yield created


@pytest.mark.parametrize(
    ("url", "field", "where"),
    [
        ("/things/a%00b", "code", "path"),
        ("/things/a?name=x%00y", "name", "query"),
        ("/things/a?name=x%0Ay", "name", "query"),
        ("/things/a?name=x%C2%85y", "name", "query"),
        ("/things/a?other=%7F", "other", "query"),
    ],
)
async def test_control_characters_are_refused(
    client: httpx.AsyncClient, url: str, field: str, where: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert (error["field"], error["in"], error["code"]) == (field, where, "control_character")


async def test_plain_text_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get("/things/330100-x", params={"name": "杭州 西湖区"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("since", "0001-01-01T00:00:00+14:00"),
        ("since", "9999-12-31T23:59:59-14:00"),
        ("since", "1969-12-31T23:59:59+00:00"),
        ("since", "2100-01-01T00:00:01+00:00"),
        ("since", "2025-03-03T08:00:00"),  # no zone
        ("since", "1741000000"),  # a number
        ("until", "0001-01-01T00:00:00"),
        ("until", "9999-12-31"),
        ("until", "0.5"),
    ],
)
async def test_instants_outside_the_range_are_refused(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    response = await client.get("/things/a", params={name: value})
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [name]


async def test_the_ends_of_the_range_are_accepted(client: httpx.AsyncClient) -> None:
    query = {"since": "1970-01-01T00:00:00+14:00", "until": "2100-01-01T00:00:00"}
    response = await client.get("/things/a", params=query)
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["since"]).year == 1970


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
    ],
)
async def test_json_bodies_in_utf_8(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/things", content=b'{"name": "x"}', headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/vnd.api+json",
        "application/jsonx",
        None,
    ],
)
async def test_other_media_types_are_refused(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/things", content=b'{"name": "x"}', headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["type"] == "https://onceonly.dev/problems/unsupported-media-type"


async def test_routes_without_a_json_body_are_left_alone(client: httpx.AsyncClient) -> None:
    assert (await client.post("/replay")).status_code == 200
    assert (await client.post("/replay", content=b"x", headers={})).status_code == 200
    response = await client.post(
        "/files", content=b"%PDF", headers={"content-type": "application/pdf"}
    )
    assert response.status_code == 200, response.text


async def test_a_missing_body_is_the_routes_own_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/things")
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "missing"


@pytest.mark.parametrize(
    "body",
    [b'{"name": "a", "name": "b"}', b'{"name": "a", "size": 1, "nested": {"k": 1, "k": 2}}'],
)
async def test_duplicate_keys_are_refused(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/things", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["in"], error["code"]) == ("body", "duplicate_key")


async def test_malformed_json_is_still_fastapis_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/things/a"), await client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("path", "sqlstate", "argument"),
    [("/postgres-data-error", "22021", None), ("/argument-data-error", None, 3)],
)
async def test_data_errors_are_a_422_logged_without_values(
    client: httpx.AsyncClient, path: str, sqlstate: str | None, argument: int | None
) -> None:
    with capture_logs() as entries:
        response = await client.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert SECRET not in response.text
    [entry] = [e for e in entries if e["event"].startswith("request refused")]
    assert (entry["sqlstate"], entry["argument"], entry["route"]) == (sqlstate, argument, path)
    assert "exc_info" not in entry
    assert SECRET not in repr(entries)


def test_install_before_the_routes() -> None:
    app = FastAPI()

    @app.get("/early")
    async def early() -> None:
        return None

    with pytest.raises(RuntimeError):
        install_request_rules(app)


def test_json_media_types() -> None:
    assert json_media_type_accepted("application/json;charset=utf-8")
    assert not json_media_type_accepted("application/json; boundary=x")
    assert not json_media_type_accepted("")
