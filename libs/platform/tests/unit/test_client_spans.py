"""Client spans of httpx requests and Postgres statements carry no values: a URL's query
is redacted before any exporter sees it, a statement's arguments are never recorded."""

from __future__ import annotations

import json
import textwrap
from collections import namedtuple

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from onceonly.platform.telemetry import QuerySpans, RedactQueryValues

from .test_telemetry import run_alone

MOBILE = "13812345678"

# A child process: the tracer provider and httpx's instrumentation are process-wide.
_HTTPX_SCRIPT = textwrap.dedent(
    f"""
    import json, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from onceonly.platform.telemetry import configure_telemetry

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(204)
            self.send_header("X-Seen-Traceparent", self.headers.get("traceparent", ""))
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exported = InMemorySpanExporter()
    configure_telemetry("unit-test", extra_processors=(SimpleSpanProcessor(exported),))
    url = f"http://127.0.0.1:{{server.server_port}}/v1/lookup?mobile={MOBILE}#{MOBILE}"
    with trace.get_tracer("unit-test").start_as_current_span("work"):
        answer = httpx.get(url)
    server.shutdown()
    spans = [
        {{"name": s.name, "kind": s.kind.name, "trace_id": format(s.context.trace_id, "032x"),
          "attributes": dict(s.attributes)}}
        for s in exported.get_finished_spans()
    ]
    print(json.dumps({{"spans": spans, "traceparent": answer.headers["X-Seen-Traceparent"]}}))
    """
)


def test_httpx_requests_get_client_spans_without_query_values() -> None:
    found = run_alone(_HTTPX_SCRIPT)
    [client] = [span for span in found["spans"] if span["kind"] == "CLIENT"]
    [work] = [span for span in found["spans"] if span["name"] == "work"]
    assert client["trace_id"] == work["trace_id"]
    assert found["traceparent"].split("-")[1] == work["trace_id"]  # propagated
    assert MOBILE not in json.dumps(client)
    urls = [value for key, value in client["attributes"].items() if key in ("url.full", "http.url")]
    assert urls and all(url.endswith("/v1/lookup?mobile=REDACTED") for url in urls)


def test_client_urls_are_redacted_like_server_queries() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(RedactQueryValues())
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("unit-test")
    with tracer.start_as_current_span(
        "GET", attributes={"url.full": f"https://sms.example/send?to={MOBILE}&text=hi"}
    ):
        pass
    with tracer.start_as_current_span("GET", attributes={"http.url": "https://a.example/x"}):
        pass
    first, second = exported.get_finished_spans()
    assert first.attributes["url.full"] == "https://sms.example/send?to=REDACTED&text=REDACTED"
    assert second.attributes["http.url"] == "https://a.example/x"


Logged = namedtuple(
    "Logged", "query args timeout elapsed exception conn_addr conn_params"
)  # asyncpg's LoggedQuery
Params = namedtuple("Params", "user database")


def test_statements_are_spans_with_their_text_and_never_their_arguments() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    spans = QuerySpans(tracer_provider=provider)
    insert = Logged(
        "INSERT INTO intake.contacts (mobile)\n   VALUES ($1)",
        (MOBILE,),
        None,
        0.004,
        None,
        ("127.0.0.1", 5432),
        Params("onceonly", "onceonly_test"),
    )
    failed = insert._replace(exception=ValueError(f"Key (mobile)=({MOBILE}) already exists"))
    spans(insert)  # outside any span: the background loops' polls are not traced
    with provider.get_tracer("unit-test").start_as_current_span("request"):
        spans(insert)
        spans(failed)
    ok, error, request = exported.get_finished_spans()
    assert request.name == "request"
    assert ok.parent is not None and ok.parent.span_id == request.context.span_id
    assert ok.name == "INSERT"
    assert dict(ok.attributes) == {
        "db.system.name": "postgresql",
        "db.query.text": "INSERT INTO intake.contacts (mobile) VALUES ($1)",
        "db.operation.name": "INSERT",
        "db.namespace": "onceonly_test",
        "server.address": "127.0.0.1",
        "server.port": 5432,
    }
    assert (ok.end_time - ok.start_time) == 4_000_000
    assert error.attributes["error.type"] == "ValueError"
    assert error.status.status_code.name == "ERROR" and not error.status.description
    assert not error.events  # no exception event with the message
    assert MOBILE not in json.dumps([dict(s.attributes) for s in (ok, error)])
