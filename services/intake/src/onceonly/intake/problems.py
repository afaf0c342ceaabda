"""How intake's errors answer: RFC 9457 problem+json, field errors in English and
Chinese, and the OpenAPI documentation of those answers."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from onceonly.intake import metrics
from onceonly.intake.errors import (
    AgentNotAuthorised,
    ApplicationNotFound,
    IdempotencyKeyReused,
    NotHotline,
    SequenceExhausted,
    SubmissionInvalid,
    UpdateConflict,
)
from onceonly.intake.schemas import ProblemView
from onceonly.intake.upload_store import UploadQuotaExceeded
from onceonly.intake.uploads import UploadRefused
from onceonly.platform.http import PROBLEM_JSON, PROBLEMS, Problem, problem_response
from onceonly.platform.http import invalid_request as invalid

log = structlog.get_logger(__name__)

UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


# Chinese for the validation errors pydantic reports in English (by error type).
_ZH_MESSAGES = {
    "missing": "缺少必填字段.",
    "extra_forbidden": "不允许的字段.",
    "string_type": "应为字符串.",
    "string_too_short": "内容过短.",
    "string_too_long": "内容过长.",
    "string_pattern_mismatch": "格式不正确.",
    "int_parsing": "应为整数.",
    "int_type": "应为整数.",
    "less_than_equal": "数值过大.",
    "greater_than_equal": "数值过小.",
    "datetime_from_date_parsing": "应为带时区的日期时间.",
    "datetime_parsing": "应为带时区的日期时间.",
    "timezone_aware": "日期时间须带时区.",
    "literal_error": "取值不在允许范围内.",
    "enum": "取值不在允许范围内.",
    "list_type": "应为数组.",
    "too_short": "条目过少.",
    "too_long": "条目过多.",
    "dict_type": "应为 JSON 对象.",
    "model_type": "应为 JSON 对象.",
    "model_attributes_type": "应为 JSON 对象.",
    "json_invalid": "不是合法的 JSON.",
    "json_type": "不是合法的 JSON.",
    "value_error": "取值不合法.",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` entries of a route's problem answers (see document_problems)."""
    described = {
        401: "No valid API key (`Authorization: Bearer oo_<key_id>_<secret>`)",
        403: "Not allowed: an agent acting outside the applicant's authorisation (its"
        " scope or its validity), or an integrator without the capability (work orders:"
        " the hotline's only); nothing was recorded",
        404: "No such resource for this integrator",
        409: "Refused by the application's history (already rated, already withdrawn)",
        413: "The request body is larger than the limit",
        415: "The media type is not accepted: `application/json` (UTF-8) for JSON bodies;"
        " PDF, PNG or JPEG for materials",
        429: "Too many requests; retry after `Retry-After` seconds",
        422: "Invalid request; `errors` names every failing field, in English and Chinese",
        503: "Temporarily unavailable; retry after `Retry-After` seconds",
    }
    return {
        status: {
            "model": ProblemView,
            "description": described[status],
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        kind = error.get("type", "invalid")
        errors.append(
            {
                "field": ".".join(location[1:]) or ".".join(location),
                "in": location[0] if location else "body",
                "code": kind,
                "message": error.get("msg", "Invalid value."),
                "message_zh": _ZH_MESSAGES.get(kind, "字段不合法."),
            }
        )
    return errors


def install_intake_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.method == "POST":
            metrics.SUBMISSIONS.labels("invalid").inc()
        return problem_response(invalid(_validation_errors(exc)), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI answers 400 to a body it cannot even decode (not UTF-8, say); for the
        # client that is one more invalid body, answered like malformed JSON.
        if exc.status_code == 400:
            return problem_response(
                invalid(
                    [
                        {
                            "field": "body",
                            "in": "body",
                            "code": "json_invalid",
                            "message": "The body is not valid JSON in UTF-8.",
                            "message_zh": "请求体不是合法的 UTF-8 JSON.",
                        }
                    ]
                ),
                request,
            )
        return problem_response(
            Problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)),
            request,
        )

    @app.exception_handler(SubmissionInvalid)
    async def _submission_invalid(request: Request, exc: SubmissionInvalid) -> JSONResponse:
        metrics.SUBMISSIONS.labels("invalid").inc()
        errors = [
            {
                "field": issue.field,
                "in": "body",
                "code": issue.code,
                "message": issue.message_en,
                "message_zh": issue.message_zh,
            }
            for issue in exc.issues
        ]
        return problem_response(invalid(errors), request)

    @app.exception_handler(IdempotencyKeyReused)
    async def _key_reused(request: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        metrics.SUBMISSIONS.labels("key_reused").inc()
        return problem_response(
            Problem(
                422,
                "Idempotency-Key reused with a different request",
                "This Idempotency-Key was first used with a different request body; a retry"
                " must repeat the first request exactly, and a new request needs a new key."
                " 该 Idempotency-Key 已用于内容不同的请求:"
                " 重试须与首次请求完全一致, 新请求请使用新的键.",
                type_=PROBLEMS + "idempotency-key-reused",
                errors=[
                    {
                        "field": "Idempotency-Key",
                        "in": "header",
                        "code": "key_reused",
                        "message": "Used before with a different request body.",
                        "message_zh": "该键已用于内容不同的请求.",
                    }
                ],
            ),
            request,
        )

    @app.exception_handler(ApplicationNotFound)
    async def _application_not_found(request: Request, exc: ApplicationNotFound) -> JSONResponse:
        return problem_response(not_found(f"Application {exc}"), request)

    @app.exception_handler(NotHotline)
    async def _not_hotline(request: Request, exc: NotHotline) -> JSONResponse:
        return problem_response(
            Problem(
                403,
                "Forbidden",
                "Only the 12345 hotline's integrator files work orders. 仅 12345 热线可提交工单.",
                type_=PROBLEMS + "not-hotline",
            ),
            request,
        )

    @app.exception_handler(UpdateConflict)
    async def _update_conflict(request: Request, exc: UpdateConflict) -> JSONResponse:
        return problem_response(
            Problem(
                409,
                "Conflict",
                f"{exc.message_en} {exc.message_zh}",
                type_=PROBLEMS + exc.code.replace("_", "-"),
            ),
            request,
        )

    @app.exception_handler(AgentNotAuthorised)
    async def _agent_not_authorised(request: Request, exc: AgentNotAuthorised) -> JSONResponse:
        return problem_response(
            Problem(
                403,
                "Not authorised by the applicant",
                f"{exc.message_en} Nothing was recorded. {exc.message_zh} 未作任何记录.",
                type_=PROBLEMS + "agent-not-authorised",
                errors=[
                    {
                        "field": "made_by",
                        "in": "body",
                        "code": exc.code,
                        "message": exc.message_en,
                        "message_zh": exc.message_zh,
                    }
                ],
            ),
            request,
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("request failed: dependency unavailable", error=type(exc).__name__)
        return problem_response(
            Problem(
                503,
                "Service temporarily unavailable",
                "Please retry shortly; nothing was recorded. 服务暂时不可用, 请稍后重试.",
                type_=PROBLEMS + "unavailable",
                headers={"Retry-After": "5"},
            ),
            request,
        )

    for error in (*UNAVAILABLE, SequenceExhausted):
        app.add_exception_handler(error, _unavailable)


def document_problems(
    app: FastAPI, examples: dict[tuple[str, str], dict[str, Any]] | None = None
) -> None:
    """Error responses are documented as what they are: problem+json bodies; success
    answers get their `examples` ((method, path) → {status: body})."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for (method, path), by_status in (examples or {}).items():
                responses = schema["paths"][path][method]["responses"]
                for status, body in by_status.items():
                    media = responses[status].setdefault("content", {})
                    media.setdefault("application/json", {})["example"] = body
            problem = {"schema": {"$ref": "#/components/schemas/ProblemView"}}
            for operation in (op for path in schema["paths"].values() for op in path.values()):
                for status, response in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400 and _is_problem(response):
                        response["content"] = {PROBLEM_JSON: problem}
            for unused in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _is_problem(response: dict[str, Any]) -> bool:
    # Problems are documented with ProblemView (see `documented`), and FastAPI adds its
    # own 422 model; other error answers (the 503 of /health) keep their own bodies.
    refs = [
        media.get("schema", {}).get("$ref", "") for media in response.get("content", {}).values()
    ]
    return not refs or any(ref.endswith(("/ProblemView", "/HTTPValidationError")) for ref in refs)


def unauthorised() -> Problem:
    return Problem(
        401,
        "Unauthorized",
        "A valid API key is required: `Authorization: Bearer oo_<key_id>_<secret>`."
        " 需要有效的 API 密钥.",
        type_=PROBLEMS + "unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="onceonly-intake"'},
    )


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"{what} 未找到.", type_=PROBLEMS + "not-found")


def upload_refused(exc: UploadRefused) -> Problem:
    if exc.status == 413:
        return Problem(
            413,
            "Request body too large",
            f"{exc.message_en} {exc.message_zh}",
            type_=PROBLEMS + "payload-too-large",
        )
    if exc.status == 415:
        return Problem(
            415,
            "Unsupported media type",
            f"{exc.message_en} {exc.message_zh}",
            type_=PROBLEMS + "unsupported-media-type",
        )
    return invalid(
        [
            {
                "field": "body",
                "in": "body",
                "code": exc.code,
                "message": exc.message_en,
                "message_zh": exc.message_zh,
            }
        ]
    )


def upload_quota_exceeded(exc: UploadQuotaExceeded) -> Problem:
    quota = exc.quota
    return Problem(
        429,
        "Upload quota exceeded",
        f"Today's upload quota is used up ({quota.uploads} files or {quota.bytes} bytes per"
        f" day, China Standard Time); retry after {exc.retry_after} seconds."
        f" 今日上传额度已用完 (每日 {quota.uploads} 个文件或 {quota.bytes} 字节),"
        f" 请 {exc.retry_after} 秒后重试.",
        type_=PROBLEMS + "upload-quota-exceeded",
        headers={"Retry-After": str(exc.retry_after)},
    )


def timed_out(seconds: float) -> Problem:
    return Problem(
        503,
        "Service overloaded",
        f"The request was not answered within {seconds:g} seconds. It may or may not have"
        " taken effect: retry with the same Idempotency-Key."
        " 请求超时, 可能已处理也可能未处理: 请使用相同的 Idempotency-Key 重试.",
        type_=PROBLEMS + "timeout",
        headers={"Retry-After": "5"},
    )


def no_progress_match() -> Problem:
    # One answer for an unknown code, a malformed one and wrong digits: no oracle.
    return Problem(
        404,
        "Not found",
        "No application matches this code and these digits. 未找到与该编码和号码匹配的办件.",
        type_=PROBLEMS + "not-found",
    )
