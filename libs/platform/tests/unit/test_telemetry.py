"""Logs carry the trace and the application code; spans never carry query values."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from onceonly.platform.telemetry import MessageSpan, RedactQueryValues, consumer_span

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CODE = "330100-20250303-0004276"


def run_alone(script: str) -> Any:
    """What `script` prints last, as JSON, run in a process of its own with no exporter
    configured (the tracer provider and logging are process-wide)."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# Run in a child process: logging and the tracer provider are process-wide.
_SCRIPT = textwrap.dedent(
    f"""
    import logging, sys
    import structlog
    from opentelemetry import trace
    from onceonly.platform.telemetry import (
        MessageSpan, attached, configure_logging, configure_telemetry,
    )

    configure_logging("unit-test")
    configure_telemetry("unit-test")
    tracer = trace.get_tracer("unit-test")
    parent = {{"traceparent": "00-{TRACE_ID}-00f067aa0ba902b7-01"}}
    with attached(parent, application_code="{CODE}"):
        with tracer.start_as_current_span("work") as span:
            print(format(span.get_span_context().span_id, "016x"), file=sys.stderr)
            structlog.get_logger("unit").info("from structlog", step=1)
            logging.getLogger("some.library").warning("from the standard library")
        with MessageSpan(
            tracer, "record", parent, topic="t", message_id="m", application_code="OTHER"
        ) as message:
            own = format(message.get_span_context().span_id, "016x")
            structlog.get_logger("unit").info("from a message span", own_span=own)
        structlog.get_logger("unit").info("after a message span")
    structlog.get_logger("unit").info("outside any trace")
    """
)


def _run() -> tuple[list[dict[str, object]], str]:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return lines, done.stderr.strip().splitlines()[-1]


def test_log_lines_are_json_with_trace_span_and_application_code() -> None:
    lines, span_id = _run()
    by_event = {line["event"]: line for line in lines}
    for event in ("from structlog", "from the standard library"):
        line = by_event[event]
        assert line["trace_id"] == TRACE_ID
        assert line["span_id"] == span_id
        assert line["application_code"] == CODE
        assert line["service"] == "unit-test"
        assert line["timestamp"]
    assert by_event["from the standard library"]["logger"] == "some.library"
    assert by_event["from the standard library"]["level"] == "warning"
    # A message's span: a child in the trace its headers carry, its code on the line
    # and the code before it back after it.
    message = by_event["from a message span"]
    assert message["trace_id"] == TRACE_ID
    assert message["span_id"] == message["own_span"] != "00f067aa0ba902b7"
    assert message["application_code"] == "OTHER"
    assert by_event["after a message span"]["application_code"] == CODE
    outside = by_event["outside any trace"]
    assert "trace_id" not in outside
    assert "application_code" not in outside


def test_query_values_are_redacted_before_any_exporter_sees_them() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(RedactQueryValues())
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("unit-test")
    with tracer.start_as_current_span(
        "GET /v1/progress", attributes={"url.query": f"code={CODE}&last4=5678&empty="}
    ):
        pass
    with tracer.start_as_current_span("no query", attributes={"url.path": "/health"}):
        pass
    first, second = exported.get_finished_spans()
    assert first.attributes["url.query"] == "code=REDACTED&last4=REDACTED&empty=REDACTED"
    assert "url.query" not in second.attributes


def assert_refused_consumer_span(span: Any, message_id: str) -> None:
    """A consumer span of message `message_id` whose block raised ValueError("refused")."""
    assert span.kind is SpanKind.CONSUMER
    assert span.attributes["messaging.message.id"] == message_id
    assert span.attributes["onceonly.application_code"] == CODE
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: refused"
    assert [event.name for event in span.events] == ["exception"]


def test_a_message_span_is_the_consumer_child_of_the_trace_its_headers_carry() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("unit-test")
    parent = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    try:
        with MessageSpan(
            tracer, "record", parent, topic="events", message_id="e-1", application_code=CODE
        ):
            raise ValueError("refused")
    except ValueError:
        pass
    with MessageSpan(tracer, "next", parent, topic="events", message_id="e-2", application_code=""):
        pass
    failed, fine = exported.get_finished_spans()
    assert format(failed.context.trace_id, "032x") == TRACE_ID
    assert failed.parent is not None and failed.parent.span_id == 0x00F067AA0BA902B7
    assert_refused_consumer_span(failed, "e-1")
    assert fine.status.status_code is StatusCode.UNSET and not fine.events
    assert trace.get_current_span() is trace.INVALID_SPAN  # nothing left attached


def test_a_consumer_span_is_the_current_child_of_the_current_span_and_ends_with_its_block() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("unit-test")
    with tracer.start_as_current_span("message") as message:
        for attempt, error in enumerate([ValueError("refused"), asyncio.CancelledError(), None]):
            try:
                with consumer_span(
                    tracer, "handle", topic="t", message_id=f"e-{attempt}", application_code=CODE
                ) as span:
                    assert trace.get_current_span() is span
                    if error is not None:
                        raise error
            except (ValueError, asyncio.CancelledError):
                pass
            assert trace.get_current_span() is message
    failed, cancelled, fine, _ = exported.get_finished_spans()
    assert {span.parent.span_id for span in (failed, cancelled, fine)} == {  # type: ignore[union-attr]
        message.get_span_context().span_id
    }
    assert_refused_consumer_span(failed, "e-0")
    # A cancellation is not the handler's error (as use_span leaves it).
    assert cancelled.status.status_code is StatusCode.UNSET and not cancelled.events
    assert fine.status.status_code is StatusCode.UNSET and not fine.events


# A child process again: which provider is installed decides.
_EXPORTED_SCRIPT = textwrap.dedent(
    """
    import asyncio, json
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from onceonly.platform.telemetry import configure_telemetry, spans_exported, trace_queries

    class Connection:
        def __init__(self):
            self.loggers = []

        def add_query_logger(self, logger):
            self.loggers.append(logger)

    def traced() -> bool:
        connection = Connection()
        asyncio.run(trace_queries(connection))
        return bool(connection.loggers)

    provider = configure_telemetry("unit-test")
    found = {"none": [spans_exported(), traced()]}
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    found["added"] = [spans_exported(), traced()]
    print(json.dumps(found))
    """
)


def test_statements_are_traced_only_once_spans_can_be_exported() -> None:
    found = run_alone(_EXPORTED_SCRIPT)
    assert found == {"none": [False, False], "added": [True, True]}


_CHILDREN_SCRIPT = textwrap.dedent(
    """
    import json
    from opentelemetry import propagate, trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from onceonly.platform.telemetry import configure_telemetry

    tracer = trace.get_tracer("unit-test")  # before the provider, as modules take theirs
    provider = configure_telemetry("unit-test")

    def ids(span):
        context = span.get_span_context()
        return [context.trace_id, context.span_id, int(context.trace_flags), span.is_recording()]

    def one_trace():
        with tracer.start_as_current_span("request") as root:
            with tracer.start_as_current_span("consume") as child:
                headers = {}
                propagate.inject(headers)
                grandchild = tracer.start_span("statement")
                grandchild_ids = ids(grandchild)
                grandchild.end()
                return [ids(root), ids(child), grandchild_ids, headers["traceparent"]]

    found = {"none": one_trace()}
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    found["added"] = one_trace()
    found["exported"] = sorted(span.name for span in exported.get_finished_spans())
    print(json.dumps(found))
    """
)


def test_a_span_is_its_ids_only_until_spans_can_be_exported() -> None:
    found = run_alone(_CHILDREN_SCRIPT)
    root, child, grandchild, traceparent = found["none"]
    # The request (a root) starts a new sampled trace; inside it, new span ids and the
    # root's flags; none of them recorded; the headers carry the child's own span id.
    assert root[3] is False and child[3] is False and grandchild[3] is False
    assert root[0] != 0 and root[0] == child[0] == grandchild[0]
    assert len({root[1], child[1], grandchild[1]}) == 3
    assert root[2] == child[2] == grandchild[2] and root[2] & 1
    assert traceparent == f"00-{child[0]:032x}-{child[1]:016x}-{child[2]:02x}"
    # Once an exporter is added, every span is recorded and exported.
    assert [span[3] for span in found["added"][:3]] == [True, True, True]
    assert found["exported"] == ["consume", "request", "statement"]


_REQUEST_SCRIPT = textwrap.dedent(
    f"""
    import asyncio, io, json
    import httpx
    from fastapi import FastAPI
    from opentelemetry import trace
    from onceonly.platform.access_log import AccessLogMiddleware
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from onceonly.platform.telemetry import ServiceAPI, configure_logging, configure_telemetry

    logs = io.StringIO()
    configure_logging("unit-test", stream=logs)
    provider = configure_telemetry("unit-test")
    app = ServiceAPI()
    app.add_middleware(AccessLogMiddleware, service="unit-test")

    @app.get("/ids")
    async def ids() -> list[object]:
        span = trace.get_current_span()
        context = span.get_span_context()
        return [format(context.trace_id, "032x"), span.is_recording()]

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            continued = await client.get(
                "/ids", headers={{"traceparent": "00-{TRACE_ID}-00f067aa0ba902b7-01"}}
            )
            new = await client.get("/ids")
            exported = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(exported))
            traced = await client.get(
                "/ids", headers={{"traceparent": "00-{TRACE_ID}-00f067aa0ba902b7-01"}}
            )
        lines = [json.loads(line) for line in logs.getvalue().splitlines()]
        access = [line.get("trace_id") for line in lines if line.get("event") == "request"]
        spans = [
            [span.name, format(span.context.trace_id, "032x")]
            for span in exported.get_finished_spans()
            if span.kind == trace.SpanKind.SERVER
        ]
        print(json.dumps({{
            "continued": continued.json(), "new": new.json(), "access": access,
            "traced": traced.json(), "server_spans": spans,
        }}))

    asyncio.run(main())
    """
)


def test_a_request_continues_its_callers_trace_while_nothing_exports() -> None:
    found = run_alone(_REQUEST_SCRIPT)
    # FastAPI's request telemetry is excluded; the access log's span continues the
    # caller's trace, records nothing, and its line carries the trace.
    assert found["continued"] == [TRACE_ID, False]
    new_trace, recording = found["new"]
    assert recording is False and new_trace not in (TRACE_ID, "0" * 32)
    assert found["access"][:2] == [TRACE_ID, new_trace]
    # Once spans can be exported, FastAPI's own request span is made (ServiceAPI leaves
    # its telemetry alone then), recorded, in the caller's trace.
    assert found["traced"] == [TRACE_ID, True]
    assert found["server_spans"] == [["GET /ids", TRACE_ID]]
