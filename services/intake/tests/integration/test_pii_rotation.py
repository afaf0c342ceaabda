"""Rotating the PII key: a new key first seals new applications, `reseal` moves stored
ones to it, and then the old key can go, with the citizen lookup still working."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from onceonly.intake.application_code import china_day
from onceonly.intake.pii_rotation import reseal_applications
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.pii import PiiError, PiiSealer, form_field_context

from .test_progress_and_limits import api_with, submit

pytestmark = pytest.mark.integration


def key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


async def sealed_of(pool: asyncpg.Pool, code: str) -> asyncpg.Record:
    return await pool.fetchrow(
        "SELECT name_sealed, identifier_sealed, mobile_sealed FROM intake.applications"
        " WHERE application_code = $1",
        code,
    )


async def test_a_key_is_rotated_out(
    settings: IntakeSettings,
    pool: asyncpg.Pool,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    old, new = key("old"), key("new")
    person_application["form"] |= {"spouse_name": "李四", "spouse_mobile": "13900001234"}
    today = china_day(datetime.now(UTC)).isoformat()
    person_application["agent"] = {
        "name": "王五",
        "identifier": "110101198505124564",
        "mobile": "13700001234",
        "relation": "relative",
        "authorisation": {
            "scope": ["submit"],
            "valid_from": today,
            "valid_until": today,
            "given_by": "recorded_consent",
            "consent_reference": "c-1",
        },
    }
    async with api_with(settings, pool, pii_keys=SecretStr(old)) as client:
        code = await submit(client, integrator, person_application)
    assert all(value.startswith("old:") for value in await sealed_of(pool, code))

    with pytest.raises(PiiError):
        await reseal_applications(pool, PiiSealer(new), integrator_id=integrator.id)

    both = PiiSealer(f"{new},{old}")
    assert await reseal_applications(pool, both, integrator_id=integrator.id) == 1
    assert await reseal_applications(pool, both, integrator_id=integrator.id) == 0
    resealed = await sealed_of(pool, code)
    assert all(value.startswith("new:") for value in resealed)
    only_new = PiiSealer(new)
    assert only_new.open(resealed["mobile_sealed"], context=f"{code}:mobile") == "13812345678"
    assert only_new.open(resealed["name_sealed"], context=f"{code}:name") == "张三丰"
    form = json.loads(
        await pool.fetchval(
            "SELECT form FROM intake.applications WHERE application_code = $1", code
        )
    )
    spouse = form["spouse_mobile"]["sealed"]
    assert spouse.startswith("new:") and form["spouse_name"]["sealed"].startswith("new:")
    assert only_new.open(spouse, context=form_field_context(code, ("spouse_mobile",))) == (
        "13900001234"
    )

    agent = json.loads(
        await pool.fetchval(
            "SELECT agent FROM intake.applications WHERE application_code = $1", code
        )
    )
    assert only_new.open(agent["mobile"]["sealed"], context=f"{code}:agent:mobile") == (
        "13700001234"
    )
    assert all(agent[field]["sealed"].startswith("new:") for field in ("name", "identifier"))

    # With the old key gone, the applicant can still look the application up.
    async with api_with(settings, pool, pii_keys=SecretStr(new)) as client:
        found = await client.get("/v1/progress", params={"code": code, "last4": "5678"})
    assert found.status_code == 200
