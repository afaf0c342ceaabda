"""Postgres side of uploaded materials: encrypted content, daily quotas per integrator.
Parameterised SQL only."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog

from onceonly.intake.upload_crypto import UploadCipher

log = structlog.get_logger(__name__)

# Quotas count days of the service centres' calendar (China Standard Time, no DST).
_TODAY = "(now() AT TIME ZONE 'Asia/Shanghai')::date"
_UNTIL_TOMORROW = (
    "ceil(extract(epoch FROM (date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai')"
    " + interval '1 day') - now() AT TIME ZONE 'Asia/Shanghai'))::integer"
)


@dataclass(frozen=True, slots=True)
class StoredUpload:
    upload_id: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    # False when the same bytes had been uploaded before (the first upload is answered).
    new: bool


@dataclass(frozen=True, slots=True)
class UploadQuota:
    """What one integrator may upload per day."""

    uploads: int
    bytes: int


class UploadQuotaExceeded(Exception):
    """Today's quota would be exceeded; `retry_after` seconds until the next day."""

    def __init__(self, quota: UploadQuota, retry_after: int) -> None:
        super().__init__("upload quota exceeded")
        self.quota = quota
        self.retry_after = max(retry_after, 1)


class UploadStore:
    def __init__(self, pool: asyncpg.Pool, cipher: UploadCipher) -> None:
        self._pool = pool
        self._cipher = cipher

    async def save(
        self, integrator_id: str, content_type: str, data: bytes, quota: UploadQuota
    ) -> StoredUpload:
        """Keep the file encrypted, counted against today's quota; or find the
        integrator's earlier upload of the same bytes (which costs no quota)."""
        digest = hashlib.sha256(data).digest()
        upload_id = uuid.uuid4()
        key_id, content = self._cipher.encrypt(upload_id, data)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """
                INSERT INTO intake.material_uploads
                    (upload_id, integrator_id, content_type, size_bytes, sha256, content, key_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (integrator_id, sha256) DO NOTHING
                RETURNING upload_id, content_type, size_bytes, created_at, true AS new
                """,
                upload_id,
                integrator_id,
                content_type,
                len(data),
                digest,
                content,
                key_id,
            )
            if row is None:
                # Uploaded before (perhaps by a concurrent twin that has committed by now:
                # ON CONFLICT waited for it, and this statement sees it).
                row = await conn.fetchrow(
                    """
                    SELECT upload_id, content_type, size_bytes, created_at, false AS new
                    FROM intake.material_uploads WHERE integrator_id = $1 AND sha256 = $2
                    """,
                    integrator_id,
                    digest,
                )
            else:
                await _count(conn, integrator_id, len(data), quota)
        assert row is not None, "an upload neither inserted nor found"
        return StoredUpload(
            upload_id=str(row["upload_id"]),
            content_type=row["content_type"],
            size_bytes=row["size_bytes"],
            sha256=digest.hex(),
            created_at=row["created_at"],
            new=row["new"],
        )

    async def read(self, integrator_id: str, upload_id: uuid.UUID) -> tuple[str, bytes] | None:
        """The content type and the decrypted file of one of the integrator's uploads."""
        row = await self._pool.fetchrow(
            "SELECT content_type, content, key_id FROM intake.material_uploads"
            " WHERE integrator_id = $1 AND upload_id = $2",
            integrator_id,
            upload_id,
        )
        if row is None:
            return None
        return row["content_type"], self._cipher.decrypt(upload_id, row["key_id"], row["content"])

    async def reseal(self, *, integrator_id: str | None = None, batch: int = 100) -> int:
        """Encrypt again under the current key every upload (of one integrator, if given)
        stored under another key or none (rows from before encryption); how many were.
        Safe while the API serves, and to run again.

        Raises UploadDecryptionError when a row opens with none of the configured keys.
        """
        current = self._cipher.current_key_id
        total = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                # SKIP LOCKED: a row another process holds is taken by a later run.
                rows = await conn.fetch(
                    "SELECT upload_id, content, key_id FROM intake.material_uploads"
                    " WHERE key_id IS DISTINCT FROM $1"
                    " AND ($3::text IS NULL OR integrator_id = $3)"
                    " ORDER BY upload_id LIMIT $2 FOR UPDATE SKIP LOCKED",
                    current,
                    batch,
                    integrator_id,
                )
                for row in rows:
                    plain = self._cipher.decrypt(row["upload_id"], row["key_id"], row["content"])
                    key_id, content = self._cipher.encrypt(row["upload_id"], plain)
                    await conn.execute(
                        "UPDATE intake.material_uploads SET content = $2, key_id = $3"
                        " WHERE upload_id = $1",
                        row["upload_id"],
                        content,
                        key_id,
                    )
            total += len(rows)
            if len(rows) < batch:
                log.info("uploads resealed", count=total, key_id=current)
                return total


async def _count(
    conn: asyncpg.Connection, integrator_id: str, size: int, quota: UploadQuota
) -> None:
    """Adds one upload of `size` bytes to today's usage, or raises UploadQuotaExceeded
    (the caller's transaction then keeps nothing). The row lock serialises concurrent
    uploads of one integrator, so replicas cannot overshoot together."""
    counted = await conn.fetchval(
        f"""
        INSERT INTO intake.upload_usage AS usage (integrator_id, day, uploads, bytes)
        SELECT $1::text, {_TODAY}, 1, $2::bigint
        WHERE $2::bigint <= $4::bigint AND 1 <= $3::integer
        ON CONFLICT (integrator_id, day) DO UPDATE
            SET uploads = usage.uploads + 1, bytes = usage.bytes + EXCLUDED.bytes
            WHERE usage.uploads + 1 <= $3 AND usage.bytes + EXCLUDED.bytes <= $4
        RETURNING true
        """,  # noqa: S608 - the interpolated parts are constants of this module
        integrator_id,
        size,
        quota.uploads,
        quota.bytes,
    )
    if counted is None:
        retry_after = await conn.fetchval(f"SELECT {_UNTIL_TOMORROW}")
        raise UploadQuotaExceeded(quota, retry_after)
