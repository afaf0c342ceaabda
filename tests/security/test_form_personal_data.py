"""Personal data put in the free-form `form` (a spouse's name, ID number and mobile, each
`x-personal` in household-transfer's form schema) is sealed before it leaves intake: an
insider reading the Kafka records, any Postgres row, Temporal's stored history (what its
UI shows) or the processes' logs finds none of it, although each holds the application.
Against the whole system started for the suite; every search is checked to be able to
find something (the application code) so that "absent" means absent."""

from __future__ import annotations

import json

import asyncpg
from temporalio.client import Client

from onceonly.platform.testing import TopicReader, test_database_url, test_kafka_bootstrap
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.settings import WorkflowSettings

from .conftest import SPOUSE_ID, SPOUSE_MOBILE, SPOUSE_NAME, Submitted, System

SCHEMAS = ("intake", "workflow", "tracking", "notify")


def needles() -> list[bytes]:
    """Each personal value as it could be written: UTF-8, or escaped in JSON."""
    found = []
    for value in (SPOUSE_NAME, SPOUSE_ID, SPOUSE_MOBILE):
        found += [value.encode(), json.dumps(value).strip('"').encode()]
    return found


def exposed(data: bytes) -> list[bytes]:
    return [needle for needle in needles() if needle in data]


async def test_the_spouse_is_not_readable_in_any_kafka_record(
    system: System, application: Submitted
) -> None:
    code = application.code.encode()
    mentioning: list[bytes] = []
    for stream in (Stream.SUBMISSIONS, Stream.APPROVAL_EVENTS):
        async with TopicReader(test_kafka_bootstrap(), topic_name(system.prefix, stream)) as reader:
            records = await reader.until(
                lambda records: any(code in (r.value or b"") for r in records),
                what=f"{stream} records of the application",
            )
        mentioning += [r.value for r in records if code in (r.value or b"")]
    assert len(mentioning) >= 3  # submitted, accepted, task started at least
    assert [exposed(value) for value in mentioning if exposed(value)] == []


async def test_the_spouse_is_not_readable_in_any_postgres_row(
    system: System, application: Submitted
) -> None:
    conn = await asyncpg.connect(test_database_url())
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema = ANY($1::text[]) AND table_type = 'BASE TABLE'",
            list(SCHEMAS),
        )
        holding: dict[str, int] = {}
        leaks: list[str] = []
        for table in tables:
            name = f'"{table["table_schema"]}"."{table["table_name"]}"'
            rows = await conn.fetch(
                f"SELECT to_jsonb(t)::text AS row FROM {name} t"
                " WHERE strpos(to_jsonb(t)::text, $1) > 0",
                application.code,
            )
            for row in rows:
                holding[name] = holding.get(name, 0) + 1
                if exposed(row["row"].encode()) or exposed(_bytea_of(json.loads(row["row"]))):
                    leaks.append(name)
        # The outbox's events are protobuf (bytea): searched as bytes.
        outbox = await conn.fetch(
            "SELECT payload FROM intake.outbox WHERE starts_with(topic, $1)"
            " AND position(convert_to($2, 'UTF8') in payload) > 0",
            system.prefix,
            application.code,
        )
    finally:
        await conn.close()
    assert {'"intake"."applications"', '"tracking"."timeline"'} <= set(holding), holding
    assert leaks == []
    assert outbox
    assert [bytes(r["payload"]) for r in outbox if exposed(bytes(r["payload"]))] == []


def _bytea_of(row: dict[str, object]) -> bytes:
    """The bytes of a row's bytea columns (`\\x...` in its JSON)."""
    found = b""
    for value in row.values():
        if isinstance(value, str) and value.startswith("\\x"):
            try:
                found += bytes.fromhex(value[2:])
            except ValueError:
                continue
    return found


async def test_the_spouse_is_not_readable_in_temporals_history(
    system: System, application: Submitted
) -> None:
    settings = WorkflowSettings(environment="development")
    # As Temporal's store and its UI hold it: a client without the payload codec.
    raw = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    history = await raw.get_workflow_handle(application.code).fetch_history()
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert application.code.encode() in stored and len(history.events) > 5
    assert exposed(stored) == []


async def test_the_spouse_is_not_in_any_processs_log(
    system: System, application: Submitted
) -> None:
    logs = system.logs().encode()
    assert application.code.encode() in logs  # the access log names the application
    assert exposed(logs) == []
