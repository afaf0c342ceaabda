"""`onceonly-intake reseal-forms` on the real database: a form stored in plain text by
the code before form schemas gets its personal fields sealed like a new submission's;
a second run changes nothing; a run stopped part way resumes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from onceonly.catalogue import default_catalogue
from onceonly.intake.form_sealing import seal_stored_forms
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.pii import PiiSealer, form_field_context
from onceonly.platform.secrets import DEVELOPMENT_PII_KEY

from .test_progress_and_limits import api_with, submit

pytestmark = pytest.mark.integration

INTAKE = Path(sys.executable).parent / "onceonly-intake"
SPOUSE = {"spouse_name": "李四", "spouse_mobile": "13900001234"}


async def stored_in_plain_text(
    settings: IntakeSettings, pool: asyncpg.Pool, integrator: Any, application: dict[str, Any]
) -> str:
    """An application whose form is stored as the code before form schemas stored it."""
    application["form"] |= SPOUSE
    async with api_with(settings, pool) as client:
        code = await submit(client, integrator, application)
    await pool.execute(
        "UPDATE intake.applications SET form = $2::jsonb WHERE application_code = $1",
        code,
        json.dumps(application["form"], ensure_ascii=False),
    )
    return code


async def reseal_forms(database_url: str, integrator_id: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it (its own process, the development keys)."""
    env = {
        **os.environ,
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_ENVIRONMENT": "development",
    }
    command = [str(INTAKE), "reseal-forms", "--integrator", integrator_id]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


async def form_of(pool: asyncpg.Pool, code: str) -> dict[str, Any]:
    form: dict[str, Any] = json.loads(
        await pool.fetchval(
            "SELECT form FROM intake.applications WHERE application_code = $1", code
        )
    )
    return form


async def test_plain_personal_fields_are_sealed_once(
    database_url: str,
    settings: IntakeSettings,
    pool: asyncpg.Pool,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    code = await stored_in_plain_text(settings, pool, integrator, person_application)
    assert (await form_of(pool, code))["spouse_name"] == "李四"

    first = await reseal_forms(database_url, integrator.id)
    assert "sealed the forms of 1 applications under key 'dev1'" in first.stdout
    assert "sealed 0 of 1 applications" in first.stderr
    assert "sealed 1 of 1 applications" in first.stderr

    form = await form_of(pool, code)
    assert form["destination"] == person_application["form"]["destination"]  # not personal
    assert form["spouse_name"]["masked"] == "李**"
    assert form["spouse_mobile"]["masked"] == "1390000****"
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    for field, plain in SPOUSE.items():
        sealed = form[field]["sealed"]
        assert sealed.startswith("dev1:") and plain not in json.dumps(form, ensure_ascii=False)
        assert sealer.open(sealed, context=form_field_context(code, (field,))) == plain

    again = await reseal_forms(database_url, integrator.id)
    assert "sealed the forms of 0 applications" in again.stdout
    assert await form_of(pool, code) == form  # idempotent: sealed fields left alone


async def test_a_stopped_run_resumes_where_it_stopped(
    settings: IntakeSettings,
    pool: asyncpg.Pool,
    new_integrator: Any,
    person_application: dict[str, Any],
) -> None:
    integrator = await new_integrator()
    codes = [
        await stored_in_plain_text(
            settings,
            pool,
            integrator,
            dict(person_application, form={**person_application["form"]}),
        )
        for _ in range(3)
    ]
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    seen: list[tuple[int, int]] = []

    class Stop(Exception):
        pass

    def stop_after_first_batch(done: int, total: int) -> None:
        seen.append((done, total))
        if done:
            raise Stop

    with pytest.raises(Stop):
        await seal_stored_forms(
            pool,
            sealer,
            default_catalogue(),
            integrator_id=integrator.id,
            batch=1,
            progress=stop_after_first_batch,
        )
    assert seen == [(0, 3), (1, 3)]
    plain = [code for code in codes if isinstance((await form_of(pool, code))["spouse_name"], str)]
    assert len(plain) == 2

    resumed: list[tuple[int, int]] = []
    assert (
        await seal_stored_forms(
            pool,
            sealer,
            default_catalogue(),
            integrator_id=integrator.id,
            batch=1,
            progress=lambda done, total: resumed.append((done, total)),
        )
        == 2
    )
    assert resumed == [(0, 2), (1, 2), (2, 2)]
    for code in codes:
        assert (await form_of(pool, code))["spouse_name"]["masked"] == "李**"
