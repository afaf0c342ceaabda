"""Sealing the personal fields of forms stored before matters had form schemas.

Intake stored an application's `form` as sent until the catalogue's form schemas marked
personal fields (`x-personal`). `onceonly-intake reseal-forms` seals, in the stored rows,
every field the matter's schema now marks personal and that still holds plain text,
exactly as a new submission's are sealed (`seal_personal_fields`, under the first key of
ONCEONLY_PII_KEYS and the field's own context). Fields already sealed are left alone, so
the command can run again, and run while the API serves: each batch is one transaction
that locks its rows, and a run that stops part way resumes where it stopped, since only
rows with a plain personal field are selected. What left intake before (Kafka records,
the workflow's history, tracking's timelines) is not rewritten here (docs/security.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import asyncpg
import structlog

from onceonly.catalogue import Catalogue
from onceonly.catalogue.forms import Path
from onceonly.intake.events import form_json, seal_personal_fields
from onceonly.platform.pii import PiiSealer

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]  # (applications sealed so far, how many to seal)

_PLAIN_ROWS = """
    FROM intake.applications
    WHERE matter_code = $1
      AND ($2::text IS NULL OR integrator_id = $2)
      AND EXISTS (
          SELECT 1 FROM unnest($3::text[]) AS p
          WHERE jsonb_path_exists(form, p::jsonpath, '{}'::jsonb, true)
      )
"""


def plain_field_path(path: Path) -> str:
    """A strict jsonpath that matches when the form holds a string at `path`: what
    `seal_personal_fields` seals (strict, so that an array on the way does not match)."""
    keys = "".join('."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"' for key in path)
    return f'strict ${keys} ? (@.type() == "string")'


async def seal_stored_forms(
    pool: asyncpg.Pool,
    sealer: PiiSealer,
    catalogue: Catalogue,
    *,
    integrator_id: str | None = None,
    batch: int = 200,
    progress: Progress | None = None,
) -> int:
    """Seal the plain personal form fields of every stored application (of one integrator,
    if given); how many applications had any."""
    matters = [(matter, matter.form.personal) for matter in catalogue.matters]
    matters = [(matter, personal) for matter, personal in matters if personal]
    paths = {
        matter.code: [plain_field_path(path) for path in personal] for matter, personal in matters
    }
    async with pool.acquire() as conn:
        total = 0
        for matter, _ in matters:
            total += await conn.fetchval(
                f"SELECT count(*) {_PLAIN_ROWS}", matter.code, integrator_id, paths[matter.code]
            )
    done = 0
    if progress:
        progress(done, total)
    for matter, personal in matters:
        after = ""  # keyset: a row is visited once per run, whatever happens to it
        while True:
            async with pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    f"SELECT application_code, form {_PLAIN_ROWS}"
                    " AND application_code > $4 ORDER BY application_code LIMIT $5"
                    " FOR UPDATE",
                    matter.code,
                    integrator_id,
                    paths[matter.code],
                    after,
                    batch,
                )
                if not rows:
                    break
                updates = []
                for row in rows:
                    code = row["application_code"]
                    form = json.loads(row["form"])
                    if seal_personal_fields(sealer, form, personal, application_code=code):
                        updates.append((code, form_json(form)))
                await conn.executemany(
                    "UPDATE intake.applications SET form = $2::jsonb WHERE application_code = $1",
                    updates,
                )
                after = rows[-1]["application_code"]
            done += len(updates)
            log.info("stored forms sealed", matter=matter.code, batch=len(updates), total=done)
            if progress:
                progress(done, max(total, done))
    return done
