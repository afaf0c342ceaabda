"""Every pool of `create_pool` traces its statements inside a span, on real Postgres:
the statement's text, never its arguments; nothing outside a span."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from onceonly.platform.db import create_pool
from onceonly.platform.telemetry import configure_telemetry

pytestmark = pytest.mark.integration

MOBILE = "13812345678"


@pytest.fixture
def exported() -> InMemorySpanExporter:
    """The process's tracer provider (installed here if no test did before), with an
    in-memory exporter added."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = configure_telemetry("onceonly-platform-tests")
    found = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(found))
    return found


async def test_statements_inside_a_span_are_its_children_without_values(
    database_url: str, exported: InMemorySpanExporter
) -> None:
    pool = await create_pool(database_url, max_size=1)
    try:
        await pool.fetchval("SELECT length($1::text)", MOBILE)  # outside any span
        tracer = trace.get_tracer("platform-tests")
        with tracer.start_as_current_span("request") as request:
            assert await pool.fetchval("SELECT length($1::text)", MOBILE) == len(MOBILE)
            with pytest.raises(asyncpg.DataError):
                await pool.fetchval("SELECT $1::int", MOBILE)
        for _ in range(5):  # asyncpg reports a statement soon after it ran
            await asyncio.sleep(0)
    finally:
        await pool.close()
    trace_id = request.get_span_context().trace_id
    # This test's statements: other tests' pools in this process (a lifespan's
    # background work still finishing) may export theirs here too, in their own traces.
    traced = [
        span
        for span in exported.get_finished_spans()
        if span.attributes
        and span.attributes.get("db.system.name") == "postgresql"
        and span.context.trace_id == trace_id
    ]
    # The statement run outside any span made none at all.
    outside = [
        span
        for span in exported.get_finished_spans()
        if span.attributes and span.attributes.get("db.query.text") == "SELECT length($1::text)"
    ]
    assert len(outside) == 1 and outside[0].context.trace_id == trace_id
    # Besides the pool's own (its reset of a released connection, also a round trip).
    statements = [span for span in traced if "$1" in str(span.attributes["db.query.text"])]
    assert [span.attributes["db.query.text"] for span in statements] == [
        "SELECT length($1::text)",
        "SELECT $1::int",
    ]
    assert all(
        span.parent is not None and span.parent.span_id == request.get_span_context().span_id
        for span in statements
    )
    assert statements[1].attributes["error.type"] == "DataError"
    assert MOBILE not in json.dumps([dict(span.attributes or {}) for span in traced])
