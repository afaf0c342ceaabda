"""Personal data in an application's form (a spouse's name, ID number and mobile) is
sealed before anything is stored or published: not one plain byte of it in intake's
tables, the outbox or the Kafka record; intake's GET shows it masked."""

from __future__ import annotations

import json
import random
from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.events.v1 import application_pb2
from onceonly.intake.checksums import iso7064_mod11_2
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.envelope import Envelope
from onceonly.platform.pii import PiiSealer, form_field_context
from onceonly.platform.testing import TopicReader

pytestmark = pytest.mark.integration


def resident_id(rng: random.Random) -> str:
    """A valid resident ID number of its own (GB 11643 check digit)."""
    body = f"330106198805{rng.randint(10, 28):02d}{rng.randint(100, 999)}"
    return body + iso7064_mod11_2(body)


@pytest.fixture
def spouse() -> dict[str, str]:
    # Values of this test only, so that another test's rows cannot hide a leak.
    rng = random.Random()
    return {
        "spouse_name": "司马"
        + chr(0x4E00 + rng.randint(0, 20000))
        + chr(0x4E00 + rng.randint(0, 20000)),
        "spouse_id_number": resident_id(rng),
        "spouse_mobile": f"139{rng.randint(0, 99_999_999):08d}",
    }


async def intake_rows_as_text(pool: asyncpg.Pool, integrator_id: str) -> str:
    """The integrator's rows in intake's tables (applications, outbox, idempotency
    answers, updates, approval status), as text; bytes (the outbox's payload) decoded
    leniently, so that plain UTF-8 inside them shows."""
    queries = [
        "SELECT * FROM intake.applications WHERE integrator_id = $1",
        "SELECT o.* FROM intake.outbox o JOIN intake.applications a"
        " ON a.application_code = o.message_key WHERE a.integrator_id = $1",
        "SELECT * FROM intake.idempotency_keys WHERE integrator_id = $1",
        "SELECT u.* FROM intake.applicant_updates u JOIN intake.applications a"
        " USING (application_code) WHERE a.integrator_id = $1",
        "SELECT s.* FROM intake.approval_status s JOIN intake.applications a"
        " USING (application_code) WHERE a.integrator_id = $1",
    ]
    texts = []
    for query in queries:
        for row in await pool.fetch(query, integrator_id):
            for value in row.values():
                if isinstance(value, bytes | bytearray | memoryview):
                    texts.append(bytes(value).decode("utf-8", "replace"))
                else:
                    texts.append(str(value))
    return "\n".join(texts)


def secrets_in(text: str, spouse: dict[str, str]) -> list[str]:
    return [name for name, value in spouse.items() if value in text]


async def test_form_personal_data_is_sealed_everywhere(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    relay: Any,
    reader: TopicReader,
    spouse: dict[str, str],
) -> None:
    person_application["form"] = {"to_district": "西湖区", "reason": "随迁", **spouse}
    response = await client.post(
        "/v1/applications",
        json=person_application,
        headers={**integrator.headers, "Idempotency-Key": "form-pii-1"},
    )
    assert response.status_code == 201, response.text
    code = response.json()["application_code"]

    rows = await intake_rows_as_text(pool, integrator.id)
    assert code in rows and "form-pii-1" in rows  # the rows are there to search
    assert secrets_in(rows, spouse) == []
    stored = json.loads(
        await pool.fetchval(
            "SELECT form FROM intake.applications WHERE application_code = $1", code
        )
    )
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    for name, value in spouse.items():
        assert sealer.open(stored[name]["sealed"], context=form_field_context(code, (name,))) == (
            value
        )

    assert await relay.publish_pending() == 1
    async with reader:
        [record] = await reader.until(lambda records: len(records) >= 1, what="the submission")
    published = record.value + b"".join(value for _, value in record.headers)
    assert [name for name, value in spouse.items() if value.encode() in published] == []
    event = Envelope.from_kafka(record.headers, record.value).message()
    assert isinstance(event, application_pb2.ApplicationSubmitted)
    form = json.loads(event.form_json)
    assert form["to_district"] == "西湖区"
    assert form["spouse_mobile"]["masked"] == spouse["spouse_mobile"][:7] + "****"
    assert (
        sealer.open(
            form["spouse_id_number"]["sealed"],
            context=form_field_context(code, ("spouse_id_number",)),
        )
        == spouse["spouse_id_number"]
    )

    shown = await client.get(f"/v1/applications/{code}", headers=integrator.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["form"] == {
        "to_district": "西湖区",
        "reason": "随迁",
        "spouse_name": "司**",
        # The mask shows the first four only: the last four are no secret of the lookup.
        "spouse_id_number": spouse["spouse_id_number"][:4] + "*" * 14,
        "spouse_mobile": spouse["spouse_mobile"][:7] + "****",
    }
    assert secrets_in(shown.text, spouse) == []


async def problem_fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"]: error["code"] for error in response.json()["errors"]}


async def test_unknown_fields_and_bad_values_are_422s_naming_them(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    spouse: dict[str, str],
    pool: asyncpg.Pool,
) -> None:
    wrong_id = spouse["spouse_id_number"][:-1] + (
        "0" if spouse["spouse_id_number"][-1] != "0" else "1"
    )
    person_application["form"] = {
        "to_district": "西湖区",
        "spouse_nickname": "x",
        "spouse_id_number": wrong_id,
        "spouse_mobile": 13900001234,
    }
    response = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )
    assert await problem_fields(response) == {
        "form.spouse_nickname": "unknown_field",
        "form.spouse_id_number": "check_digit",
        "form.spouse_mobile": "type",
    }
    assert wrong_id not in response.text
    assert wrong_id not in await intake_rows_as_text(pool, integrator.id)
