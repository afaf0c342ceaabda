"""`/v1/temporal-codec`: Temporal's codec server protocol, for operators who read
applications' histories (Temporal's CLI `--codec-endpoint`; docs/operations.md).

Temporal stores payloads encrypted (payload_codec.py); `POST .../decode` answers them
decrypted, `POST .../encode` encrypts what an operator sends to a workflow. Both take
and answer `{"payloads": [{"metadata": {name: base64}, "data": base64}]}` (protobuf's
JSON of `Payloads`). Only operations and supervision staff, who read every application
elsewhere too, may use it; each use is logged with who and how many payloads (never
what). Sealed names, ID numbers and mobiles stay sealed: the codec opens Temporal's
encryption, not the PII sealing inside.
"""

from __future__ import annotations

import base64
import binascii

import structlog
from fastapi import APIRouter
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from onceonly.platform.http import Problem
from onceonly.workflow.api.dependencies import Codec, Operator
from onceonly.workflow.payload_codec import PayloadCodecError

log = structlog.get_logger("onceonly.workflow.codec")

router = APIRouter(prefix="/v1/temporal-codec", tags=["operations"])
_URL_SAFE = str.maketrans("-_", "+/")


class WirePayload(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict, description="values in base64")
    data: str = Field(default="", description="base64")


class WirePayloads(BaseModel):
    payloads: list[WirePayload]


_RESPONSES: dict[int | str, dict[str, object]] = {401: {}, 403: {}, 422: {}}


@router.post(
    "/decode",
    response_model=WirePayloads,
    responses=_RESPONSES,
    summary="Payloads decrypted (Temporal codec server)",
)
async def decode(body: WirePayloads, who: Operator, codec: Codec) -> WirePayloads:
    payloads = _parse(body)
    try:
        decoded = await codec.decode(payloads)
    except PayloadCodecError as exc:
        raise Problem(422, "Payload not decoded", str(exc)) from None
    log.info("temporal payloads decoded", staff_id=who.staff_id, payloads=len(decoded))
    return _render(decoded)


@router.post(
    "/encode",
    response_model=WirePayloads,
    responses=_RESPONSES,
    summary="Payloads encrypted (Temporal codec server)",
)
async def encode(body: WirePayloads, who: Operator, codec: Codec) -> WirePayloads:
    encoded = await codec.encode(_parse(body))
    log.info("temporal payloads encoded", staff_id=who.staff_id, payloads=len(encoded))
    return _render(encoded)


def _parse(body: WirePayloads) -> list[Payload]:
    try:
        return [
            Payload(
                metadata={name: _bytes(value) for name, value in payload.metadata.items()},
                data=_bytes(payload.data),
            )
            for payload in body.payloads
        ]
    except binascii.Error:
        raise Problem(422, "Payloads not readable", "metadata values and data are base64") from None


def _bytes(text: str) -> bytes:
    """Base64 as protobuf's JSON writes bytes (standard or URL-safe, padded or not);
    strict, so that garbage is refused rather than read as something else."""
    standard = text.translate(_URL_SAFE)
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def _render(payloads: list[Payload]) -> WirePayloads:
    return WirePayloads(
        payloads=[
            WirePayload(
                metadata={name: _text(value) for name, value in payload.metadata.items()},
                data=_text(payload.data),
            )
            for payload in payloads
        ]
    )


def _text(data: bytes) -> str:
    return base64.b64encode(data).decode()
