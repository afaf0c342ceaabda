"""The administration CLI against the test database."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import asyncpg
import pytest
from typer.testing import CliRunner

from onceonly.intake.cli import app

pytestmark = pytest.mark.integration

KEY = re.compile(r"api_key:\s+(oo_\S+)")


def cli_environment(database_url: str) -> dict[str, str]:
    """The test database, with the development keys (explicitly: nothing defaults to them)."""
    return {"ONCEONLY_DATABASE_URL": database_url, "ONCEONLY_ENVIRONMENT": "development"}


def run(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=cli_environment(database_url))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_integrators_and_keys_are_administered(database_url: str) -> None:
    name = f"cli integrator {uuid.uuid4().hex[:8]}"

    created = run(database_url, "integrator", "create", name)
    integrator_id = re.search(r"integrator_id:\s+(\S+)", created).group(1)  # type: ignore[union-attr]
    first_key = KEY.search(created).group(1)  # type: ignore[union-attr]
    first_key_id = first_key.split("_")[1]

    second = run(database_url, "integrator", "key-create", integrator_id)
    second_key_id = KEY.search(second).group(1).split("_")[1]  # type: ignore[union-attr]
    assert second_key_id != first_key_id

    revoked = run(database_url, "integrator", "key-revoke", first_key_id)
    assert f"revoked {first_key_id}" in revoked

    listing = run(database_url, "integrator", "list")
    assert f"{integrator_id}  {name}" in listing
    assert re.search(rf"key {first_key_id} .* revoked", listing)
    assert re.search(rf"key {second_key_id} .* active", listing)
    # Secrets are shown once, at creation, and never listed.
    assert first_key.split("_", 2)[2] not in listing


def test_unknown_ids_and_duplicate_names_are_errors(database_url: str) -> None:
    runner = CliRunner()
    env = cli_environment(database_url)
    assert runner.invoke(app, ["integrator", "key-create", "nobody"], env=env).exit_code == 1
    assert runner.invoke(app, ["integrator", "key-revoke", "0" * 16], env=env).exit_code == 1
    name = f"twice {uuid.uuid4().hex[:8]}"
    assert runner.invoke(app, ["integrator", "create", name], env=env).exit_code == 0
    assert runner.invoke(app, ["integrator", "create", name], env=env).exit_code == 1


def test_an_integrators_centre_is_a_division_of_the_province(database_url: str) -> None:
    created = json.loads(
        run(database_url, "integrator", "create", f"ningbo {uuid.uuid4().hex[:8]}", "--json")
    )
    integrator = created["integrator_id"]
    assert "submits in 330203" in run(database_url, "integrator", "region", integrator, "330203")
    env = cli_environment(database_url)
    runner = CliRunner()
    refused = runner.invoke(app, ["integrator", "region", integrator, "320106"], env=env)
    assert refused.exit_code == 2 and "No division" in refused.output
    unknown = runner.invoke(app, ["integrator", "region", "nobody", "330203"], env=env)
    assert unknown.exit_code == 1
    assert "the intake region" in run(database_url, "integrator", "region", integrator, "-")


def test_scripts_get_json_and_can_rerun_with_reuse(database_url: str) -> None:
    name = f"demo portal {uuid.uuid4().hex[:8]}"
    first = json.loads(run(database_url, "integrator", "create", name, "--json"))
    again = json.loads(run(database_url, "integrator", "create", name, "--reuse", "--json"))
    assert again["integrator_id"] == first["integrator_id"]
    assert again["api_key"] != first["api_key"]
    assert again["api_key"].startswith(f"oo_{again['key_id']}_")


def test_reseal_uploads_encrypts_uploads_stored_before_encryption(database_url: str) -> None:
    created = run(database_url, "integrator", "create", f"uploads {uuid.uuid4().hex[:8]}")
    integrator_id = re.search(r"integrator_id:\s+(\S+)", created).group(1)  # type: ignore[union-attr]
    upload_id, plain = uuid.uuid4(), b"%PDF-1.4 stored before encryption " + uuid.uuid4().bytes

    async def sql(query: str, *args: object) -> object:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchrow(query, *args)
        finally:
            await conn.close()

    asyncio.run(
        sql(
            "INSERT INTO intake.material_uploads"
            " (upload_id, integrator_id, content_type, size_bytes, sha256, content)"
            " VALUES ($1, $2, 'application/pdf', $3, sha256($4), $4)",
            upload_id,
            integrator_id,
            len(plain),
            plain,
        )
    )
    output = run(database_url, "reseal-uploads", "--integrator", integrator_id)
    assert "resealed 1 uploads under key 'dev1'" in output
    row = asyncio.run(
        sql("SELECT content, key_id FROM intake.material_uploads WHERE upload_id = $1", upload_id)
    )
    assert row["key_id"] == "dev1"  # type: ignore[index]
    assert plain not in row["content"]  # type: ignore[index]
    assert "resealed 0 uploads" in run(
        database_url, "reseal-uploads", "--integrator", integrator_id
    )
