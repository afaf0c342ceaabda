"""Materials as uploads: PDF, PNG and JPEG only (parsed as such), within the size limit,
stored encrypted, content-addressed per integrator, counted against a daily quota, and
usable only by the integrator that uploaded them."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image
from pypdf import PdfWriter

from onceonly.intake.api import create_app
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.upload_crypto import UploadCipher
from onceonly.intake.upload_store import UploadStore

pytestmark = pytest.mark.integration


def pdf(padding: int = 0) -> bytes:
    """A real one-page PDF, unique (and `padding` characters larger) each time."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": uuid.uuid4().hex, "/Subject": os.urandom(padding // 2).hex()})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(kind: str) -> bytes:
    """A real, unique PNG or JPEG (random pixels)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (32, 24), os.urandom(32 * 24 * 3)).save(out, format=kind)
    return out.getvalue()


PDF, PNG, JPEG = pdf(), image("PNG"), image("JPEG")
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)


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
async def test_pdf_png_and_jpeg_are_kept_encrypted(
    client: httpx.AsyncClient,
    integrator: Any,
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    data: bytes,
    content_type: str,
) -> None:
    response = await upload(client, integrator, data, content_type)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["reference"].startswith("upload:")
    assert body["content_type"] == content_type.split(";")[0]
    assert body["size_bytes"] == len(data)
    upload_id = uuid.UUID(body["reference"].removeprefix("upload:"))
    stored = await pool.fetchrow(
        "SELECT content, key_id FROM intake.material_uploads WHERE upload_id = $1", upload_id
    )
    # Encrypted at rest: the stored bytes are neither the file nor contain it.
    assert stored["key_id"] == "dev1"
    assert stored["content"] != data
    assert data[:64] not in stored["content"]
    # Read back (the only way the system reads a material) it is the file again.
    store = UploadStore(pool, UploadCipher.from_pii_keys(settings.pii_keys.get_secret_value()))
    assert await store.read(integrator.id, upload_id) == (body["content_type"], data)
    assert await store.read("someone-else", upload_id) is None


async def test_the_same_bytes_again_are_the_same_upload(
    client: httpx.AsyncClient, integrator: Any, new_integrator: Any
) -> None:
    data = pdf()
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
    ("data", "content_type", "status", "problem", "code"),
    [
        (b"GIF89a" + os.urandom(50), "image/gif", 415, "unsupported-media-type", None),
        (b"<html></html>", "text/html", 415, "unsupported-media-type", None),
        (b"PK\x03\x04" + os.urandom(50), "application/zip", 415, "unsupported-media-type", None),
        (PNG, "application/pdf", 422, "validation", "content_mismatch"),  # declared PDF
        (b"MZ\x90\x00" + os.urandom(50), "image/jpeg", 422, "validation", "content_mismatch"),
        (b"", "application/pdf", 422, "validation", "empty"),
        # The first bytes are right, the rest is not that file.
        (
            b"%PDF-1.7\n<script>fetch('/x')</script>",
            "application/pdf",
            422,
            "validation",
            "malformed",
        ),
        (b"\x89PNG\r\n\x1a\n" + ELF, "image/png", 422, "validation", "malformed"),
        (PNG + ELF, "image/png", 422, "validation", "trailing_data"),
        (JPEG + ELF, "image/jpeg", 422, "validation", "trailing_data"),
        (JPEG[: len(JPEG) // 2], "image/jpeg", 422, "validation", "malformed"),
    ],
)
async def test_other_files_are_refused(
    client: httpx.AsyncClient,
    integrator: Any,
    data: bytes,
    content_type: str,
    status: int,
    problem: str,
    code: str | None,
) -> None:
    response = await upload(client, integrator, data, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{problem}")
    if code is not None:
        assert [e["code"] for e in response.json()["errors"]] == [code]


async def test_files_over_the_upload_limit_are_refused_but_larger_than_json_bodies_pass(
    client: httpx.AsyncClient, integrator: Any
) -> None:
    # Above the 256 KiB limit of JSON bodies, below the 5 MiB of uploads.
    fits = await upload(client, integrator, pdf(padding=1024 * 1024), "application/pdf")
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
    theirs = (await upload(client, await new_integrator(), pdf(), "application/pdf")).json()[
        "reference"
    ]
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


@pytest.fixture
async def limited_client(
    settings: IntakeSettings, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a small daily quota: two uploads or 40 000 bytes."""
    limited = settings.model_copy(
        update={"material_daily_uploads": 2, "material_daily_bytes": 40_000}
    )
    app = create_app(limited, pool=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as c:
            yield c


async def test_the_daily_quota_of_uploads_is_shared_and_answered_with_429(
    limited_client: httpx.AsyncClient, integrator: Any, new_integrator: Any, pool: asyncpg.Pool
) -> None:
    first, second = pdf(), image("PNG")
    assert (await upload(limited_client, integrator, first, "application/pdf")).status_code == 201
    assert (await upload(limited_client, integrator, second, "image/png")).status_code == 201
    third = await upload(limited_client, integrator, image("JPEG"), "image/jpeg")
    assert third.status_code == 429, third.text
    assert third.headers["content-type"] == "application/problem+json"
    assert third.json()["type"].endswith("/upload-quota-exceeded")
    assert "2 files" in third.json()["detail"]
    assert 0 < int(third.headers["retry-after"]) <= 24 * 3600
    # A retried upload of kept bytes costs nothing and is still answered.
    again = await upload(limited_client, integrator, first, "application/pdf")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    # The refused file was not kept; the count lives in Postgres (shared by replicas).
    usage = await pool.fetchrow(
        "SELECT uploads, bytes FROM intake.upload_usage WHERE integrator_id = $1", integrator.id
    )
    assert (usage["uploads"], usage["bytes"]) == (2, len(first) + len(second))
    kept = await pool.fetchval(
        "SELECT count(*) FROM intake.material_uploads WHERE integrator_id = $1", integrator.id
    )
    assert kept == 2
    # Another integrator has its own quota.
    other = await new_integrator()
    assert (await upload(limited_client, other, image("JPEG"), "image/jpeg")).status_code == 201


async def test_the_daily_quota_of_bytes(limited_client: httpx.AsyncClient, integrator: Any) -> None:
    assert (await upload(limited_client, integrator, pdf(), "application/pdf")).status_code == 201
    over = await upload(limited_client, integrator, pdf(padding=40_000), "application/pdf")
    assert over.status_code == 429, over.text
    assert "40000 bytes" in over.json()["detail"]


async def test_uploads_stored_before_encryption_are_read_and_resealed(
    pool: asyncpg.Pool, integrator: Any, settings: IntakeSettings
) -> None:
    legacy_id, data = uuid.uuid4(), pdf()
    await pool.execute(
        "INSERT INTO intake.material_uploads"
        " (upload_id, integrator_id, content_type, size_bytes, sha256, content)"
        " VALUES ($1, $2, 'application/pdf', $3, sha256($4), $4)",
        legacy_id,
        integrator.id,
        len(data),
        data,
    )
    keys = settings.pii_keys.get_secret_value()
    store = UploadStore(pool, UploadCipher.from_pii_keys(keys))
    assert await store.read(integrator.id, legacy_id) == ("application/pdf", data)

    assert await store.reseal(integrator_id=integrator.id) == 1
    row = await pool.fetchrow(
        "SELECT content, key_id FROM intake.material_uploads WHERE upload_id = $1", legacy_id
    )
    assert row["key_id"] == "dev1"
    assert row["content"] != data
    assert await store.read(integrator.id, legacy_id) == ("application/pdf", data)

    # A rotation: the new key first, the old one still listed, reseal moves the row.
    new_key = "k-new:" + base64.b64encode(os.urandom(32)).decode()
    rotated = UploadStore(pool, UploadCipher.from_pii_keys(f"{new_key},{keys}"))
    assert await rotated.reseal(integrator_id=integrator.id) == 1
    assert await rotated.read(integrator.id, legacy_id) == ("application/pdf", data)
    assert (
        await pool.fetchval(
            "SELECT key_id FROM intake.material_uploads WHERE upload_id = $1", legacy_id
        )
        == "k-new"
    )
    assert await rotated.reseal(integrator_id=integrator.id) == 0


async def test_concurrent_uploads_cannot_overshoot_the_quota(
    limited_client: httpx.AsyncClient, integrator: Any
) -> None:
    files = [image("PNG") for _ in range(6)]
    answers = await asyncio.gather(
        *(upload(limited_client, integrator, data, "image/png") for data in files)
    )
    assert sorted(answer.status_code for answer in answers) == [201, 201, 429, 429, 429, 429]
