"""`python -m bench.span_cost [--messages 20000] [--rounds 5]`: what the tracing of one
consumed message costs a consumer while no span is exported, in this process.

Per message, what every consumer of the services does (platform.kafka, tracking,
notify): the message's trace context attached from its headers, a consumer span opened
in it, the context injected into an outgoing event's headers, a child span (a publish)
opened and closed, one log line's trace ids read. Tracing is configured as the services
configure it (`configure_telemetry`, `OTEL_TRACES_EXPORTER=none`). JSON on stdout: the
process's CPU per message of each round and their median. Run old and new code
alternately (an old commit's worktree first on `PYTHONPATH`) to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from opentelemetry import trace

from onceonly.platform.telemetry import (
    attached,
    configure_telemetry,
    consumer_span,
    current_trace_headers,
)

HEADERS = {
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": "",
}


def _trace_ids() -> tuple[int, int]:
    context = trace.get_current_span().get_span_context()
    return context.trace_id, context.span_id


def one_round(tracer: trace.Tracer, messages: int) -> float:
    """CPU microseconds per message of this process over `messages` messages."""
    started = time.process_time()
    for number in range(messages):
        with (
            attached(HEADERS, application_code="330100-B0000-00001"),
            consumer_span(
                tracer,
                "notify process ApplicationCompleted",
                topic="onceonly.approval-events",
                message_id=str(number),
                application_code="330100-B0000-00001",
            ),
        ):
            current_trace_headers()
            with tracer.start_as_current_span("publish", kind=trace.SpanKind.PRODUCER):
                _trace_ids()
    return (time.process_time() - started) * 1e6 / messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["OTEL_TRACES_EXPORTER"] = "none"
    configure_telemetry("bench-span-cost")
    tracer = trace.get_tracer("bench.span_cost")
    one_round(tracer, 1_000)  # warm-up
    rounds = [round(one_round(tracer, args.messages), 2) for _ in range(args.rounds)]
    print(
        json.dumps(
            {
                "messages": args.messages,
                "cpu_us_per_message": rounds,
                "median_cpu_us_per_message": statistics.median(rounds),
            }
        )
    )


if __name__ == "__main__":
    main()
