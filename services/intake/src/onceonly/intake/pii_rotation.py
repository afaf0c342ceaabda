"""Rotation of the PII key over intake's stored applications.

A new key is put first in ONCEONLY_PII_KEYS (it seals from then on; the old one still
opens). `onceonly-intake reseal-pii` then seals every stored value again under the new
key, batch by batch, so that the old key can be removed from the settings. Safe to
run while the API serves and to run again (rows already under the primary key are
skipped). The personal fields of a stored form (`{"sealed", "masked"}`) and of the
agent (帮代办, contexts `<code>:agent:<field>`) are resealed with them. Events
already on Kafka keep their old sealing until their retention ends.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import structlog

from onceonly.intake.events import agent_context
from onceonly.platform.pii import PiiSealer, form_field_context, sealed_form_fields

log = structlog.get_logger(__name__)

FIELDS = ("name", "identifier", "mobile")
# The agent's sealed fields not under $p.
_AGENT_NOT_UNDER = '$.* ? (@.sealed.type() == "string" && !(@.sealed starts with $p))'
# A sealed form field not under $p: what `is_sealed_field` and `_resealed_form` take.
_FORM_NOT_UNDER = (
    '$.** ? (@.sealed.type() == "string" && @.masked.type() == "string"'
    " && !(@.sealed starts with $p))"
)


async def reseal_applications(
    pool: asyncpg.Pool,
    sealer: PiiSealer,
    *,
    integrator_id: str | None = None,
    batch: int = 500,
) -> int:
    """Reseal every application (of one integrator, if given) not yet wholly under the
    primary key; how many were.

    Raises PiiError when a value opens with none of the configured keys (the retired
    key must be configured again before the command can finish).
    """
    prefix = f"{sealer.primary_key_id}:"
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED: a row being written by a request is taken in a later batch.
            rows = await conn.fetch(
                """
                SELECT application_code, name_sealed, identifier_sealed, mobile_sealed, form,
                       agent
                FROM intake.applications
                WHERE ($3::text IS NULL OR integrator_id = $3)
                  AND (left(name_sealed, length($1)) <> $1
                       OR left(identifier_sealed, length($1)) <> $1
                       OR left(mobile_sealed, length($1)) <> $1
                       OR jsonb_path_exists(form, $4::jsonpath, jsonb_build_object('p', $1))
                       OR (agent IS NOT NULL AND jsonb_path_exists(
                           agent, $5::jsonpath, jsonb_build_object('p', $1))))
                LIMIT $2
                FOR UPDATE SKIP LOCKED
                """,
                prefix,
                batch,
                integrator_id,
                _FORM_NOT_UNDER,
                _AGENT_NOT_UNDER,
            )
            if not rows:
                return total
            updates = []
            for row in rows:
                code = row["application_code"]
                values = [
                    row[f"{field}_sealed"]
                    if row[f"{field}_sealed"].startswith(prefix)
                    else sealer.reseal(row[f"{field}_sealed"], context=f"{code}:{field}")
                    for field in FIELDS
                ]
                form = _resealed_form(sealer, code, json.loads(row["form"]), prefix)
                agent = (
                    _resealed_agent(sealer, code, json.loads(row["agent"]), prefix)
                    if row["agent"] is not None
                    else None
                )
                updates.append(
                    (
                        code,
                        *values,
                        json.dumps(form, ensure_ascii=False),
                        json.dumps(agent, ensure_ascii=False) if agent is not None else None,
                    )
                )
            await conn.executemany(
                """
                UPDATE intake.applications
                SET name_sealed = $2, identifier_sealed = $3, mobile_sealed = $4,
                    form = $5::jsonb, agent = $6::jsonb
                WHERE application_code = $1
                """,
                updates,
            )
        total += len(rows)
        log.info("applications resealed", batch=len(rows), total=total)


def _resealed_form(sealer: PiiSealer, code: str, form: object, prefix: str) -> object:
    """`form` with each sealed field not under `prefix` sealed again, in place."""
    for path, field in sealed_form_fields(form):
        if not field["sealed"].startswith(prefix):
            field["sealed"] = sealer.reseal(field["sealed"], context=form_field_context(code, path))
    return form


def _resealed_agent(sealer: PiiSealer, code: str, agent: dict[str, Any], prefix: str) -> object:
    """The stored agent with its sealed fields not under `prefix` sealed again."""
    for field in FIELDS:
        value = agent.get(field)
        if isinstance(value, dict) and not value["sealed"].startswith(prefix):
            value["sealed"] = sealer.reseal(value["sealed"], context=agent_context(code, field))
    return agent
