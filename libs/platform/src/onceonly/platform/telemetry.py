"""OpenTelemetry and structured logging set-up, and trace context on Kafka headers.

Exporters are chosen only by the standard `OTEL_*` variables: `OTEL_TRACES_EXPORTER`
is a comma-separated list of `otlp` (OTLP over HTTP/protobuf, configured by
`OTEL_EXPORTER_OTLP_*`), `console`, or `none` (the default); `OTEL_SDK_DISABLED=true`
turns tracing off. The SDK itself reads `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER*` and `OTEL_BSP_*`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

log = structlog.get_logger(__name__)

_configured = False
_REDACTED = "REDACTED"


class RedactQueryValues(SpanProcessor):
    """Replaces the values of `url.query` as spans start: query strings carry what the
    caller typed (the progress lookup takes the last digits of a phone or ID number)."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        query = (span.attributes or {}).get("url.query")
        if isinstance(query, str) and query:
            pairs = parse_qsl(query, keep_blank_values=True)
            span.set_attribute("url.query", urlencode([(key, _REDACTED) for key, _ in pairs]))


def _exporter_names() -> list[str]:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "none")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def configure_telemetry(
    service_name: str, *, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider:
    """Install the global tracer provider once per process.

    The provider records even with no exporter, so that trace ids still reach the logs
    and the Kafka headers.
    """
    global _configured
    current = trace.get_tracer_provider()
    if _configured and isinstance(current, TracerProvider):
        return current
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
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
    _configured = True
    return provider


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        event_dict["trace_id"] = format(span.trace_id, "032x")
        event_dict["span_id"] = format(span.span_id, "016x")
    return event_dict


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
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    logging.basicConfig(handlers=[handler], level=level.upper(), force=True)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service_name)


def current_trace_headers() -> dict[str, str]:
    """The W3C `traceparent`/`tracestate` of the current span, for a message."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(dict(headers))


@contextmanager
def attached(headers: Mapping[str, str], *, application_code: str = "") -> Iterator[None]:
    """Run the block inside the trace context carried by a message, with the
    application code on every log line written meanwhile."""
    token = otel_context.attach(context_from_headers(headers))
    try:
        if application_code:
            with structlog.contextvars.bound_contextvars(application_code=application_code):
                yield
        else:
            yield
    finally:
        otel_context.detach(token)


def consumer_span(
    tracer: trace.Tracer, name: str, *, topic: str, message_id: str, application_code: str
) -> AbstractContextManager[trace.Span]:
    """The current span while one Kafka message is processed, with the messaging
    attributes every consumer sets; open it inside `attached(...)` the message's headers."""
    return tracer.start_as_current_span(
        name,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.message.id": message_id,
            "onceonly.application_code": application_code,
        },
    )
