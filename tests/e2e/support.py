"""What the end-to-end tests do as an integrator, as department staff and as operator."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
# How long one step may take to show through the running system.
DEADLINE_SECONDS = 60.0

# The example from GB 11643-1999 itself: a valid resident ID number (check digit X).
RESIDENT_ID = "11010519491231002X"
MOBILE = "13812345678"
HOUSEHOLD_MATERIALS = ["transfer-application", "resident-id", "housing-proof", "household-register"]
HOUSEHOLD_CHECKS = ("population", "real-estate")


# Shorter than the APIs' keep-alive (api_keep_alive_seconds, 5 s by default, which is also
# httpx's own expiry): a client reusing a connection idle for as long as the server keeps
# it sends its request into the server's close and gets httpx.ReadError (an
# observability test did, on 2026-12-06, after a submission that took 5 s).
CLIENT_KEEPALIVE_SECONDS = 1.0


def http_client(*, timeout: float = 20.0) -> httpx.AsyncClient:
    """The tests' client of the running APIs."""
    return httpx.AsyncClient(
        timeout=timeout, limits=httpx.Limits(keepalive_expiry=CLIENT_KEEPALIVE_SECONDS)
    )


def household_transfer(materials: list[str] | None = None) -> dict[str, Any]:
    return {
        "matter_code": "household-transfer",
        "applicant": {"kind": "person", "name": "张伟", "identifier": RESIDENT_ID},
        "contact": {"mobile": MOBILE, "channels": ["sms"], "language": "zh"},
        "materials": [
            {"code": code, "reference": f"dms://e2e/{uuid.uuid4().hex[:8]}/{code}.pdf"}
            for code in (HOUSEHOLD_MATERIALS if materials is None else materials)
        ],
        "form": {"from_district": "上城区", "to_district": "西湖区", "reason": "购房迁入"},
        # 授权: consent to the matter's shared-data checks (without it none runs).
        "consents": [
            {"purpose": purpose, "reference": f"consent://e2e/{uuid.uuid4().hex[:8]}"}
            for purpose in HOUSEHOLD_CHECKS
        ],
    }


async def submit(
    http: httpx.AsyncClient, intake: str, key: str, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(
        f"{intake}/v1/applications",
        json=body,
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
    )


async def timeline_types(
    http: httpx.AsyncClient, tracking: str, code: str, headers: dict[str, str]
) -> list[str]:
    answer = await http.get(f"{tracking}/v1/applications/{code}/timeline", headers=headers)
    if answer.status_code == 404:
        return []
    if answer.status_code == 429:
        # Polled faster than the staff read limit (5/s per staff member): back off as
        # the API asks, as any client must, and report nothing yet.
        await asyncio.sleep(min(float(answer.headers.get("Retry-After", "1")), 5.0))
        return []
    answer.raise_for_status()
    return [entry["type"].rsplit(".", 1)[-1] for entry in answer.json()["entries"]]


@dataclass(frozen=True)
class Endpoints:
    intake: str
    workflow: str
    tracking: str
    notify: str
