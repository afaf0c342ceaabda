"""OpenTelemetry and structured logging set-up, and trace context on Kafka headers.

Exporters are chosen only by the standard `OTEL_*` variables: `OTEL_TRACES_EXPORTER`
is a comma-separated list of `otlp` (OTLP over HTTP/protobuf, configured by
`OTEL_EXPORTER_OTLP_*`), `console`, or `none` (the default); `OTEL_SDK_DISABLED=true`
turns tracing off. The SDK itself reads `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER*` and `OTEL_BSP_*`.

Besides the spans each service makes (HTTP server spans from FastAPI, Kafka producer and
consumer spans, Temporal's), every process gets client spans of its httpx requests
(opentelemetry-instrumentation-httpx) and of its Postgres statements (`QuerySpans`, on
every pool of `platform.db.create_pool`, when spans are exported at all). Neither carries
a value: statements are sent with parameters, and query strings are redacted before any
exporter sees a span.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson
import structlog
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

log = structlog.get_logger(__name__)

_configured = False
_REDACTED = "REDACTED"


# Where a span keeps a whole URL: httpx's client spans (new and old conventions).
_URL_ATTRIBUTES = ("url.full", "http.url")


def _redacted_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(key, _REDACTED) for key, _ in pairs])


class RedactQueryValues(SpanProcessor):
    """Replaces query values as spans start, in `url.query` (server spans) and in the
    URL of client spans: query strings carry what the caller typed (the progress lookup
    takes the last digits of a phone or ID number)."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        attributes = span.attributes or {}
        query = attributes.get("url.query")
        if isinstance(query, str) and query:
            span.set_attribute("url.query", _redacted_query(query))
        for name in _URL_ATTRIBUTES:
            url = attributes.get(name)
            if isinstance(url, str) and ("?" in url or "#" in url):
                parts = urlsplit(url)
                redacted = parts._replace(query=_redacted_query(parts.query), fragment="")
                span.set_attribute(name, urlunsplit(redacted))


class _ProcessProvider(TracerProvider):
    """The process's provider, which knows whether a span can leave the process: only
    once a processor other than the redaction is added (an exporter, or a test's
    in-memory one). Until then a span serves only the trace ids of the logs and of the
    Kafka headers, so spans nobody reads (one per statement) are not worth making, and
    a span is only its ids (`_UnexportedChildren`)."""

    exports = False

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        if not isinstance(span_processor, RedactQueryValues):
            self.exports = True

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        tracer = super().get_tracer(*args, **kwargs)
        if isinstance(tracer, trace.NoOpTracer):  # OTEL_SDK_DISABLED
            return tracer
        return _UnexportedChildren(tracer, self)


class _UnexportedChildren(trace.Tracer):
    """The SDK's tracer, except that while no span can be exported a span is made as its
    ids only (a non-recording span): inside a trace, a new span id in the parent's
    trace with the parent's flags and state; a root (a request to an API), a new
    sampled trace; as the default parent-based sampler would give. The logs and the
    Kafka headers read nothing else, and a recorded span that nobody exports (its
    attributes, events, clock readings and processors' calls) was the largest part of
    OpenTelemetry's cost in the consumers and in the intake API (docs/performance.md).
    Checked at each span, so an exporter added later (a test's) sees every span from
    then on."""

    def __init__(self, recorded: trace.Tracer, provider: _ProcessProvider) -> None:
        self._recorded = recorded
        self._provider = provider

    def _ids_only(self, context: otel_context.Context | None) -> trace.Span | None:
        if self._provider.exports:
            return None
        ids = self._provider.id_generator
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
        else:
            # A root: a new trace, sampled, as the default sampler would start it.
            trace_id = ids.generate_trace_id()
            flags, state = trace.TraceFlags(trace.TraceFlags.SAMPLED), trace.TraceState()
        return trace.NonRecordingSpan(
            trace.SpanContext(
                trace_id,
                ids.generate_span_id(),
                is_remote=False,
                trace_flags=flags,
                trace_state=state,
            )
        )

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        span = self._ids_only(context)
        if span is not None:
            return span
        return self._recorded.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> AbstractContextManager[trace.Span]:
        # As the SDK's own: the span `start_span` gives, made current.
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        return trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        )


def spans_exported() -> bool:
    """Whether the spans made now can reach an exporter; True under a provider that
    `configure_telemetry` did not install (it cannot tell)."""
    return bool(getattr(trace.get_tracer_provider(), "exports", True))


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry settings, for every API. Its request spans, and its
    spans of dependencies, endpoint and serialisation, only while spans can be exported
    (`exclude` is asked at each request); otherwise the access log makes the request's
    span as its ids only (`RequestSpan`), which is all the logs and the events read: a
    tenth of the intake API's CPU per submission went to FastAPI's telemetry of spans
    nobody exported (docs/performance.md). No metrics: the APIs' metrics are
    Prometheus' (`RequestMetricsMiddleware`) and no meter provider is installed, so
    FastAPI's would be computed for nobody (about 7 % of the intake API's CPU per
    submission). No logs: its logs of validation failures would carry the rejected
    input values, personal data included."""
    return {
        "logs": False,
        "metrics": False,
        "operation_spans": spans_exported(),
        "exclude": _nothing_exported,
    }


def _nothing_exported(_: Mapping[str, Any]) -> bool:
    return not spans_exported()


class ServiceAPI(FastAPI):
    """FastAPI with `fastapi_telemetry`, whose own telemetry is not even asked about a
    request while no span can be exported: asked, it checks its providers, walks the
    middleware stack (looking for contrib's instrumentation) and calls `exclude`, about
    4 % of the intake API's CPU per submission (docs/performance.md). The scope's
    marker is the one FastAPI sets for a request it excludes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(telemetry=fastapi_telemetry(), **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not spans_exported():
            scope["fastapi.telemetry"] = None
        await super().__call__(scope, receive, send)


_HTTP_TRACER = trace.get_tracer("onceonly.platform.http")


class RequestSpan:
    """The HTTP request's server span, current while the block runs: FastAPI's where it
    made one (spans are exported); else a span of its own, in the trace that the
    caller's `traceparent` header names or in a new one, its ids only while nothing is
    exported (`_UnexportedChildren`). A class, not a generator: it runs for every
    request, and a span nobody records needs no exception handling."""

    __slots__ = ("_scope", "_span", "_token")

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self._scope = scope
        self._token: object | None = None

    def __enter__(self) -> trace.Span:
        current = trace.get_current_span()
        if current.get_span_context().is_valid:
            self._span = current
            return current
        # Without a header the propagators read, the parent is the current context.
        parent = (
            propagate.extract(Headers(scope=self._scope)) if _carries_context(self._scope) else None
        )
        self._span = _HTTP_TRACER.start_span(
            str(self._scope.get("method", "HTTP")), context=parent, kind=trace.SpanKind.SERVER
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span, parent))
        return self._span

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._span.end()


_propagated: tuple[object, frozenset[bytes]] | None = None


def _carries_context(scope: Mapping[str, Any]) -> bool:
    """Whether the request has a header the global propagators read (`traceparent`,
    `tracestate`, `baggage` by default): most have none, and extracting from none costs
    a `Headers` and a search of it per propagator."""
    global _propagated
    textmap = propagate.get_global_textmap()
    if _propagated is None or _propagated[0] is not textmap:
        _propagated = (
            textmap,
            frozenset(field.lower().encode("latin-1") for field in textmap.fields),
        )
    fields = _propagated[1]
    return any(name in fields for name, _ in scope.get("headers", ()))


def _exporter_names() -> list[str]:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "none")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def configure_telemetry(
    service_name: str, *, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    """Install the global tracer provider once per process.

    With no exporter, spans are their ids only (`_UnexportedChildren`): trace ids
    still reach the logs and the Kafka headers.
    """
    global _configured
    current = trace.get_tracer_provider()
    if _configured and isinstance(current, TracerProvider):
        return current
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = _ProcessProvider(resource=resource)
    # First, so that exporters never see the unredacted values.
    provider.add_span_processor(RedactQueryValues())
    for name in _exporter_names():
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif name != "none":
            log.warning("unsupported OTEL_TRACES_EXPORTER entry ignored", exporter=name)
    for processor in extra_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _instrument_httpx(provider)
    _configured = True
    return provider


def _instrument_httpx(provider: TracerProvider) -> None:
    """Client spans (and `traceparent`) on every httpx request of the process."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


# Statement text beyond this is cut (a migration's SQL is long; a statement is not).
MAX_STATEMENT_CHARS = 2048


class QuerySpans:
    """An asyncpg query logger that records each statement as a Postgres client span,
    child of the current span.

    Only inside a span (a request, a consumed message, an activity): the background
    loops' polling (heartbeats, the outbox, gauges) would otherwise be a trace per poll.
    The span carries the statement's text, never its arguments, and on failure only the
    error's type (a Postgres message may quote a value).
    """

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(
            "onceonly.platform.postgres", tracer_provider=tracer_provider
        )

    def __call__(self, record: asyncpg.connection.LoggedQuery) -> None:
        # asyncpg calls this soon after the statement, in a copy of the caller's context.
        if not trace.get_current_span().get_span_context().is_valid:
            return
        ended = time.time_ns()
        statement = " ".join(str(record.query).split())[:MAX_STATEMENT_CHARS]
        operation = statement.split(" ", 1)[0].upper() if statement else ""
        attributes: dict[str, Any] = {
            "db.system.name": "postgresql",
            "db.query.text": statement,
        }
        if operation.isalpha():
            attributes["db.operation.name"] = operation
        database = getattr(record.conn_params, "database", None)
        if database:
            attributes["db.namespace"] = str(database)
        if isinstance(record.conn_addr, tuple) and len(record.conn_addr) >= 2:
            attributes["server.address"] = str(record.conn_addr[0])
            attributes["server.port"] = int(record.conn_addr[1])
        span = self._tracer.start_span(
            attributes.get("db.operation.name", "postgresql"),
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=ended - int(record.elapsed * 1e9),
        )
        if record.exception is not None:
            span.set_attribute("error.type", type(record.exception).__name__)
            span.set_status(trace.StatusCode.ERROR)
        span.end(end_time=ended)


_QUERY_SPANS = QuerySpans()


async def trace_queries(connection: asyncpg.Connection) -> None:
    """A pool's `init`: spans of every statement the connection runs (`QuerySpans`),
    when spans are exported; else none, and no query logger at all (asyncpg times each
    statement and schedules a callback per logger)."""
    if spans_exported():
        connection.add_query_logger(_QUERY_SPANS)


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event_dict["trace_id"] = format(span.trace_id, "032x")
        event_dict["span_id"] = format(span.span_id, "016x")
    return event_dict


def _json_line(event: dict[str, Any], **_: Any) -> str:
    """One log line's JSON: orjson, UTF-8 as is, anything it cannot encode as its repr
    (as structlog's own fallback does); the stdlib's json if orjson refuses the whole
    (an int beyond 64 bits), since a log call must never fail."""
    try:
        return orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(event, ensure_ascii=False, default=repr)


def configure_logging(service_name: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON logs on stdout (or `stream`) with service, trace id and span id on every
    line, the standard library's loggers (uvicorn, aiokafka, temporalio) included."""
    out = stream or sys.stdout
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(serializer=_json_line),
            ],
        )
    )
    logging.basicConfig(handlers=[handler], level=level.upper(), force=True)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_json_line),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # A write and a flush per line, as print's, without print's argument handling.
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service_name)


def current_trace_headers() -> dict[str, str]:
    """The W3C `traceparent`/`tracestate` of the current span, for a message."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(headers)


class _Attached:
    """`attached`'s block. A class, not a generator (it runs for every message), which
    puts the application code back as it was by its contextvar's token."""

    __slots__ = ("_bound", "_code", "_headers", "_token")

    def __init__(self, headers: Mapping[str, str], application_code: str) -> None:
        self._headers = headers
        self._code = application_code

    def _context(self) -> otel_context.Context:
        """The context the block runs in."""
        return context_from_headers(self._headers)

    def __enter__(self) -> Any:
        self._token = otel_context.attach(self._context())
        self._bound = (
            structlog.contextvars.bind_contextvars(application_code=self._code)
            if self._code
            else None
        )

    def __exit__(self, *_: object) -> None:
        if self._bound:
            structlog.contextvars.reset_contextvars(**self._bound)
        otel_context.detach(self._token)


def attached(headers: Mapping[str, str], *, application_code: str = "") -> _Attached:
    """Run the block inside the trace context carried by a message, with the
    application code on every log line written meanwhile."""
    return _Attached(headers, application_code)


class MessageSpan(_Attached):
    """`attached` and `consumer_span` in one: the consumer span of one Kafka message, a
    child of the trace its headers carry, current while the block runs, with the
    application code on every log line meanwhile. For a consumer that makes one span
    per message; the span ends with the block (an exception escaping it is recorded on
    it, as `start_as_current_span` records one)."""

    __slots__ = ("_attributes", "_name", "_span", "_tracer")

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        headers: Mapping[str, str],
        *,
        topic: str,
        message_id: str,
        application_code: str,
    ) -> None:
        super().__init__(headers, application_code)
        self._tracer = tracer
        self._name = name
        self._attributes = _consumer_attributes(topic, message_id, application_code)

    def _context(self) -> otel_context.Context:
        parent = context_from_headers(self._headers)
        self._span = self._tracer.start_span(
            self._name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=self._attributes
        )
        return trace.set_span_in_context(self._span, parent)

    def __enter__(self) -> trace.Span:
        super().__enter__()
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        super().__exit__()
        _end(self._span, error)


def _end(span: trace.Span, error: BaseException | None) -> None:
    """End a span its block left, with the error that escaped it recorded as
    `use_span` records one (an Exception only: not GeneratorExit, not a cancellation)."""
    if isinstance(error, Exception) and span.is_recording():
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()


def _consumer_attributes(topic: str, message_id: str, application_code: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.message.id": message_id,
        "onceonly.application_code": application_code,
    }


def consumer_span(
    tracer: trace.Tracer, name: str, *, topic: str, message_id: str, application_code: str
) -> ConsumerSpan:
    """The current span while one Kafka message is processed, with the messaging
    attributes every consumer sets; open it inside `attached(...)` the message's headers."""
    return ConsumerSpan(tracer, name, _consumer_attributes(topic, message_id, application_code))


class ConsumerSpan:
    """consumer_span's span: a child of the current context, current while the block
    runs, ended with the block. A class rather than `start_as_current_span` (a generator
    context manager around another), for a consumer that opens one per attempt."""

    __slots__ = ("_attributes", "_name", "_span", "_token", "_tracer")

    def __init__(self, tracer: trace.Tracer, name: str, attributes: dict[str, str]) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes

    def __enter__(self) -> trace.Span:
        span = self._tracer.start_span(
            self._name, kind=trace.SpanKind.CONSUMER, attributes=self._attributes
        )
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        otel_context.detach(self._token)
        _end(self._span, error)
