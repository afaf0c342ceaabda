"""The tests here start the system's processes and follow one application by a trace id
they choose, sent as the `traceparent` of their own HTTP requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from tests.observability.otlp import OtlpReceiver


@pytest.fixture(autouse=True)
def httpx_not_traced_here() -> Iterator[None]:
    """No httpx client spans in this test process while these tests run.

    An earlier test of the same run calls `configure_telemetry`, which instruments httpx
    process-wide; the instrumentation then replaces the test's own `traceparent` with a
    span of the test process, and the application runs in a trace the test never looks
    for. That is why these tests failed in full runs only (CI, 4 December), and passed
    whenever they were run alone."""
    instrumentor = HTTPXClientInstrumentor()
    instrumented = instrumentor.is_instrumented_by_opentelemetry
    if instrumented:
        instrumentor.uninstrument()
    yield
    if instrumented:
        instrumentor.instrument()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """An OTLP receiver the processes under test export their spans to."""
    with OtlpReceiver() as started:
        yield started
