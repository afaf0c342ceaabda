"""Materials as uploads: PDF, PNG and JPEG only (by content), within the size limit,
content-addressed per integrator, and usable only by the integrator that uploaded them."""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.7\n" + os.urandom(2000) + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(500)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(500)


async def upload(
    client: httpx.AsyncClient, integrator: Any, data: bytes, content_type: str
) -> httpx.Response:
    return await client.post(
        "/v1/materials",
        content=data,
        headers={**integrator.headers, "Content-Type": content_type},
    )


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg; charset=binary")],
)
async def test_pdf_png_and_jpeg_are_kept(
    client: httpx.AsyncClient, integrator: Any, pool: asyncpg.Pool, data: bytes, content_type: str
) -> None:
    response = await upload(client, integrator, data, content_type)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["reference"].startswith("upload:")
    assert body["content_type"] == content_type.split(";")[0]
    assert body["size_bytes"] == len(data)
    stored = await pool.fetchval(
        "SELECT content FROM intake.material_uploads WHERE upload_id = $1::uuid",
        body["reference"].removeprefix("upload:"),
    )
    assert stored == data


async def test_the_same_bytes_again_are_the_same_upload(
    client: httpx.AsyncClient, integrator: Any, new_integrator: Any
) -> None:
    data = b"%PDF-1.4\n" + os.urandom(100)
    first = await upload(client, integrator, data, "application/pdf")
    again = await upload(client, integrator, data, "application/pdf")
    other = await upload(client, await new_integrator(), data, "application/pdf")
    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json()["reference"] == first.json()["reference"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # Another integrator's upload of the same file is its own.
    assert other.json()["reference"] != first.json()["reference"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "problem"),
    [
        (b"GIF89a" + os.urandom(50), "image/gif", 415, "unsupported-media-type"),
        (b"<html></html>", "text/html", 415, "unsupported-media-type"),
        (PNG, "application/pdf", 422, "validation"),  # declared PDF, is a PNG
        (b"MZ\x90\x00" + os.urandom(50), "image/jpeg", 422, "validation"),
        (b"", "application/pdf", 422, "validation"),
    ],
)
async def test_other_files_are_refused(
    client: httpx.AsyncClient,
    integrator: Any,
    data: bytes,
    content_type: str,
    status: int,
    problem: str,
) -> None:
    response = await upload(client, integrator, data, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{problem}")


async def test_files_over_the_upload_limit_are_refused_but_larger_than_json_bodies_pass(
    client: httpx.AsyncClient, integrator: Any
) -> None:
    # Above the 256 KiB limit of JSON bodies, below the 5 MiB of uploads.
    fits = await upload(client, integrator, b"%PDF-" + os.urandom(1024 * 1024), "application/pdf")
    assert fits.status_code == 201, fits.text
    too_big = await upload(
        client, integrator, b"%PDF-" + os.urandom(5 * 1024 * 1024), "application/pdf"
    )
    assert too_big.status_code == 413
    assert too_big.json()["type"].endswith("/payload-too-large")


async def test_applications_and_supplements_name_only_their_own_uploads(
    client: httpx.AsyncClient,
    integrator: Any,
    new_integrator: Any,
    person_application: dict[str, Any],
) -> None:
    mine = (await upload(client, integrator, PDF, "application/pdf")).json()["reference"]
    theirs = (
        await upload(
            client, await new_integrator(), b"%PDF-2.0" + os.urandom(64), "application/pdf"
        )
    ).json()["reference"]
    person_application["materials"] = [
        {"code": "transfer-application", "reference": mine},
        {"code": "household-register", "reference": theirs},
        {"code": "resident-id", "reference": "upload:not-a-uuid"},
    ]
    refused = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )
    assert refused.status_code == 422, refused.text
    assert {(e["field"], e["code"]) for e in refused.json()["errors"]} == {
        ("materials.1.reference", "unknown_upload"),
        ("materials.2.reference", "unknown_upload"),
    }

    person_application["materials"] = person_application["materials"][:1]
    accepted = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )
    assert accepted.status_code == 201, accepted.text
    code = accepted.json()["application_code"]
    read = await client.get(f"/v1/applications/{code}", headers=integrator.headers)
    assert read.json()["materials"] == [{"code": "transfer-application", "reference": mine}]

    supplement = await client.post(
        f"/v1/applications/{code}/supplements",
        json={"materials": [{"code": "household-register", "reference": theirs}]},
        headers=integrator.headers,
    )
    assert supplement.status_code == 422
    assert supplement.json()["errors"][0]["code"] == "unknown_upload"


async def test_uploading_needs_a_key(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/materials", content=PDF, headers={"Content-Type": "application/pdf"}
    )
    assert response.status_code == 401
