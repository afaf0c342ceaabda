"""Materials: an integrator uploads a file (PDF, PNG, JPEG) and names its reference in
an application's or a supplement's materials."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from functools import partial

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from onceonly.intake.api.dependencies import (
    IdempotencyKeyHeader,
    PostingIntegrator,
    Settings,
    State,
    Uploads,
    idempotency,
)
from onceonly.intake.problems import documented, upload_quota_exceeded, upload_refused
from onceonly.intake.schemas import UploadReceipt
from onceonly.intake.upload_store import UploadQuota, UploadQuotaExceeded
from onceonly.intake.uploads import SIGNATURES, UploadRefused, check_upload, upload_reference


async def upload_material(
    request: Request,
    integrator: PostingIntegrator,
    settings: Settings,
    uploads: Uploads,
    state: State,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    # The key is validated like on every POST; the content itself makes retries safe.
    idempotency(request, idempotency_key, {})
    data = await request.body()
    try:
        # Parsing a file is CPU work: in a thread, so that other requests are answered,
        # and few at once, so that concurrent large images cannot exhaust memory.
        check = partial(
            check_upload,
            request.headers.get("content-type", ""),
            data,
            max_bytes=settings.material_max_bytes,
            max_pixels=settings.material_max_pixels,
        )
        media_type = await to_thread.run_sync(check, limiter=state.upload_parsers)
    except UploadRefused as exc:
        raise upload_refused(exc) from None
    quota = UploadQuota(settings.material_daily_uploads, settings.material_daily_bytes)
    try:
        stored = await uploads.save(integrator.id, media_type, data, quota)
    except UploadQuotaExceeded as exc:
        raise upload_quota_exceeded(exc) from None
    receipt = UploadReceipt(
        reference=upload_reference(stored.upload_id),
        content_type=stored.content_type,  # type: ignore[arg-type]
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        uploaded_at=stored.created_at,
    )
    return Response(
        receipt.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={} if stored.new else {"Idempotent-Replayed": "true"},
    )


def router(max_bytes: int) -> APIRouter:
    """The upload route, documented with the largest material (`max_bytes`) it takes."""
    materials = APIRouter(tags=["applications"])
    materials.add_api_route(
        "/v1/materials",
        upload_material,
        methods=["POST"],
        status_code=201,
        response_model=UploadReceipt,
        summary="Upload a material (PDF, PNG or JPEG)",
        description=(
            "The file is the request body, its type the `Content-Type`"
            f" ({', '.join(SIGNATURES)}; checked against the content, which must parse as"
            " that type: a PDF without scripts, attachments or encryption, an image that"
            f" decodes in full and has nothing after its end), at most {max_bytes} bytes."
            " Stored encrypted. Each integrator has a daily quota of uploads and bytes"
            " (429 with `Retry-After` beyond it). Answers a `reference` to name in an"
            " application's or a supplement's materials; only you can use it. Idempotent by"
            " content: the same bytes again answer the same reference (with"
            " `Idempotent-Replayed: true`), so an `Idempotency-Key` is accepted but not needed."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    media_type: {"schema": {"type": "string", "format": "binary"}}
                    for media_type in SIGNATURES
                },
            }
        },
        responses={
            201: {
                "description": "Stored",
                "headers": {
                    "Idempotent-Replayed": {
                        "description": "`true` when these bytes had been uploaded before",
                        "schema": {"type": "string"},
                    },
                },
            },
            **documented(401, 413, 415, 422, 429, 503),
        },
    )
    return materials
