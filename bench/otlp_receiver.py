"""`python -m bench.otlp_receiver --port P --stats FILE`: a local OTLP/HTTP trace receiver.

Stands in for a collector in the tracing benchmark: it accepts what the services'
exporters send to `/v1/traces` (protobuf, gzip or not), counts requests, bytes and spans,
and answers as a collector does, so that the exporters do the whole of their work
(serialise, send, wait for the answer). It keeps no span. Its counts are written to
FILE every second and on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import signal
from pathlib import Path

import typer
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

cli = typer.Typer(add_completion=False)

_OK = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()


class Counts:
    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.spans = 0
        self.rejected = 0
        self.services: dict[str, int] = {}

    def add(self, body: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.requests += 1
        self.bytes += len(body)
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "?",
            )
            count = sum(len(scope.spans) for scope in resource_spans.scope_spans)
            self.spans += count
            self.services[service] = self.services.get(service, 0) + count

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "spans": self.spans,
            "rejected": self.rejected,
            "spans_by_service": dict(sorted(self.services.items())),
        }


def app(counts: Counts) -> web.Application:
    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            if request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            counts.add(body)
        except Exception:
            counts.rejected += 1
            return web.Response(status=400)
        return web.Response(body=_OK, content_type="application/x-protobuf")

    application = web.Application(client_max_size=64 * 1024 * 1024)
    application.router.add_post("/v1/traces", traces)
    return application


async def serve(port: int, stats: Path) -> None:
    counts = Counts()
    runner = web.AppRunner(app(counts), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # A few hundred bytes a second: written in the loop's thread on purpose.
    try:
        while not stop.is_set():
            _write(stats, counts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        _write(stats, counts)
        await runner.cleanup()


def _write(stats: Path, counts: Counts) -> None:
    stats.write_text(json.dumps(counts.as_dict()))


@cli.command()
def main(
    port: int = typer.Option(..., "--port"),
    stats: Path = typer.Option(..., "--stats"),
) -> None:
    asyncio.run(serve(port, stats))


if __name__ == "__main__":
    cli()
