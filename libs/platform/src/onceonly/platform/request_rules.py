"""What every API refuses at its door, so that no request reaches Postgres or Python's
datetime arithmetic with a value they cannot take (issue 15, "No 500s anywhere"):

- query and path values with control characters (a NUL above all: Postgres text cannot
  hold one), as a 422 problem naming the parameter;
- instants outside 1970-01-01T00:00 to 2100-01-01T00:00 (`BoundedDatetime`, `Instant`),
  as a 422
  naming the parameter: near year 1 or 9999 a zone offset overflows Python's datetime
  and Postgres' date range;
- on routes that read a JSON body: any request media type other than `application/json`
  (optionally with `charset=utf-8`) as a 415, and an object with a duplicate key as a 422
  (which of the two values would count is up to each parser);
- and it sets the security headers of every response (`SecurityHeadersMiddleware`).

`install_request_rules(app)` wires the dependency and the middleware; call it before the
routers are included (an app-level dependency is copied into each route as it is added).
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.platform.http import PROBLEMS, Problem, invalid_request

# Wall-clock bounds, compared before any conversion: with offsets of at most a day, an
# instant inside them converts to UTC (and to Postgres) without overflow. Both included,
# so that a period's exclusive end may be 2100-01-01T00:00 (the dashboard's December).
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(2100, 1, 1)

JSON_MEDIA_TYPE = "application/json"


def within_supported_range(value: datetime) -> bool:
    """Whether `value`, as written (its wall clock, zone aside), is in EARLIEST..LATEST."""
    return EARLIEST <= value.replace(tzinfo=None) <= LATEST


def _bounded(value: datetime) -> datetime:
    if not within_supported_range(value):
        raise ValueError("must be between 1970-01-01T00:00 and 2100-01-01T00:00")
    return value


_DATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_AND_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _dated_text(value: Any) -> Any:
    # Pydantic would also read `0.5` as seconds since 1970: only ISO 8601 text is meant.
    if isinstance(value, str) and not _DATED.match(value):
        raise ValueError("must be an ISO 8601 date-time such as 2025-03-03T08:00:00+08:00")
    return value


def _date_and_time_text(value: Any) -> Any:
    if isinstance(value, str) and not _DATE_AND_TIME.match(value):
        raise ValueError("must be an RFC 3339 date-time with a time zone")
    return value


# A query instant with or without a zone (the route says what a missing zone means).
BoundedDatetime = Annotated[datetime, BeforeValidator(_dated_text), AfterValidator(_bounded)]
# A query instant with its zone: `2025-03-03T08:00:00+08:00`, never a number.
Instant = Annotated[AwareDatetime, BeforeValidator(_date_and_time_text), AfterValidator(_bounded)]


def storable_text(value: str) -> bool:
    """Whether `value` has no control character (NUL, C0, DEL, C1) or lone surrogate:
    nothing Postgres refuses and nothing a query filter or code needs."""
    return not any(unicodedata.category(char) in ("Cc", "Cs") for char in value)


def _field_error(
    field: str, where: str, code: str, message: str, message_zh: str
) -> dict[str, str]:
    return {"field": field, "in": where, "code": code, "message": message, "message_zh": message_zh}


def _refuse_control_characters(request: Request) -> None:
    if not request.scope.get("path_params") and not request.scope.get("query_string"):
        return  # nothing to look at (a POST to a fixed path): no query parsed for it
    errors = [
        _field_error(
            name,
            where,
            "control_character",
            "must not contain control characters (such as NUL)",
            "不得包含控制字符.",
        )
        for where, items in (
            ("path", list(request.path_params.items())),
            ("query", request.query_params.multi_items()),
        )
        for name, value in items
        if isinstance(value, str) and not storable_text(value)
    ]
    if errors:
        raise invalid_request(errors)


def _reads_json(route: object) -> bool:
    """Whether the route takes a JSON body (not a form or a raw upload)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    media = getattr(route.body_field.field_info, "media_type", JSON_MEDIA_TYPE)
    return bool(media == JSON_MEDIA_TYPE)


def json_media_type_accepted(content_type: str) -> bool:
    """`application/json`, with no parameter but `charset=utf-8` (any case)."""
    media, *parameters = (part.strip().lower() for part in content_type.split(";"))
    return media == JSON_MEDIA_TYPE and all(
        parameter.replace(" ", "") in ("charset=utf-8", 'charset="utf-8"', "")
        for parameter in parameters
    )


def unsupported_media_type() -> Problem:
    return Problem(
        415,
        "Unsupported media type",
        "Send the body as `Content-Type: application/json` (UTF-8)."
        " 请求体须为 application/json (UTF-8).",
        type_=PROBLEMS + "unsupported-media-type",
    )


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


# One decoder for every request: `json.loads` with a hook builds a new one per call.
_STRICT_JSON = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def strict_json(body: bytes) -> Any:
    """`body` decoded as `json.loads` decodes bytes (FastAPI's own parse: a BOM or UTF-16
    body too), refusing an object with a duplicate key (`DuplicateKey`, a ValueError)."""
    return _STRICT_JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


async def _refuse_unclear_json(request: Request) -> None:
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS") or not _reads_json(
        request.scope.get("route")
    ):
        return
    body = await request.body()  # FastAPI has read (and kept) it already
    content_type = request.headers.get("content-type")
    if content_type is None and not body:
        return  # no body at all: the route answers its own "missing" 422
    if content_type is None or not json_media_type_accepted(content_type):
        raise unsupported_media_type()
    try:
        strict_json(body)
    except DuplicateKey as exc:
        raise invalid_request(
            [
                _field_error(
                    "body",
                    "body",
                    "duplicate_key",
                    f"the key {exc.key[:64]!r} appears more than once in one object",
                    "同一对象中有重复的键.",
                )
            ]
        ) from None
    except ValueError:
        return  # malformed JSON: FastAPI's own 422 has answered before this runs


async def request_rules(request: Request) -> None:
    """The app-wide dependency: refuses what `install_request_rules` describes."""
    _refuse_control_characters(request)
    await _refuse_unclear_json(request)


# The dashboard sets its own Content-Security-Policy; everything else (JSON, FastAPI's
# docs) gets these, which no client of ours relies on the absence of.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in SECURITY_HEADERS if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def install_request_rules(app: FastAPI) -> None:
    """The request rules as an app-wide dependency, and the security headers."""
    if any(isinstance(route, APIRoute) for route in app.router.routes):
        # Routes added before would go without the dependency.
        raise RuntimeError("install_request_rules must run before routers are included")
    app.router.dependencies.append(Depends(request_rules))
    app.add_middleware(SecurityHeadersMiddleware)
