"""Postgres side of uploaded materials. Parameterised SQL only."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class StoredUpload:
    upload_id: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    # False when the same bytes had been uploaded before (the first upload is answered).
    new: bool


class UploadStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def save(self, integrator_id: str, content_type: str, data: bytes) -> StoredUpload:
        """Keep the file, or find the integrator's earlier upload of the same bytes."""
        digest = hashlib.sha256(data).digest()
        row = await self._pool.fetchrow(
            """
            INSERT INTO intake.material_uploads
                (upload_id, integrator_id, content_type, size_bytes, sha256, content)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (integrator_id, sha256) DO NOTHING
            RETURNING upload_id, content_type, size_bytes, created_at, true AS new
            """,
            uuid.uuid4(),
            integrator_id,
            content_type,
            len(data),
            digest,
            data,
        )
        if row is None:
            # Uploaded before (perhaps by a concurrent twin that has committed by now:
            # ON CONFLICT waited for it, and this statement sees it).
            row = await self._pool.fetchrow(
                """
                SELECT upload_id, content_type, size_bytes, created_at, false AS new
                FROM intake.material_uploads WHERE integrator_id = $1 AND sha256 = $2
                """,
                integrator_id,
                digest,
            )
        assert row is not None, "an upload neither inserted nor found"
        return StoredUpload(
            upload_id=str(row["upload_id"]),
            content_type=row["content_type"],
            size_bytes=row["size_bytes"],
            sha256=digest.hex(),
            created_at=row["created_at"],
            new=row["new"],
        )
