"""Prometheus metrics every service shares: HTTP requests, Kafka consumer lag, the
events each consumer handled and dead-lettered, gauges refreshed in the background of
an API process, and the endpoint of a process that has no API.

Labels are bounded by design: route templates (never the concrete path, which holds
application codes), methods, statuses, consumer names and topic names.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.metadata import MetadataRequest
from fastapi import FastAPI
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.platform import kafka_connection
from onceonly.platform.partition_reader import described_partitions

log = structlog.get_logger(__name__)

HTTP_REQUEST_SECONDS = Histogram(
    "onceonly_http_request_duration_seconds",
    "Duration of HTTP requests by service, route template, method and status"
    " (the _count is the request rate)",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "onceonly_kafka_consumer_lag",
    "Messages on a topic not yet committed by a consumer group (sum over partitions)",
    ["consumer", "topic"],
)
CONSUMER_LAG_FAILURES = Counter(
    "onceonly_kafka_consumer_lag_failures_total",
    "Consumer lag measurements that failed (the gauge keeps its last value)",
    ["consumer"],
)

EVENTS_HANDLED = Counter(
    "onceonly_events_handled_total",
    "Events a consumer handled (redeliveries it found done included)",
    ["consumer"],
)
EVENTS_DEAD_LETTERED = Counter(
    "onceonly_events_dead_lettered_total",
    "Events a consumer parked on its dead-letter topic",
    ["consumer"],
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Observes every HTTP request's duration, labelled by route template."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        # The series by (method, route, status), found once: `labels` checks and joins
        # its values under a lock on every call. As many as the series themselves.
        self._series: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            # The router sets the matched route on the scope; unmatched paths share one
            # label so that scanning clients cannot grow the series.
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            key = (method, route, status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = HTTP_REQUEST_SECONDS.labels(
                    self.service, method, route, str(status)
                )
            series.observe(time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class ConsumerCounters:
    """What one consumer did with its events: handled, or parked as dead letters."""

    handled: Counter
    dead_lettered: Counter

    @classmethod
    def of(cls, consumer: str) -> ConsumerCounters:
        """Both series of `consumer`, created now at 0: a series that appears only with
        its first dead letter would hide that one from `increase()`."""
        return cls(EVENTS_HANDLED.labels(consumer), EVENTS_DEAD_LETTERED.labels(consumer))


def serve_metrics(port: int, *, host: str, process: str) -> WSGIServer | None:
    """Serve this process's metrics at http://host:port/metrics from a background
    thread, for a process without an HTTP API of its own (relay, worker, bridge, agent);
    port 0 serves nothing. A port that is taken stops the process: two processes would
    otherwise report under one scrape target. Returns the server (for tests to close)."""
    if port <= 0:
        return None
    server, _ = start_http_server(port, addr=host)
    log.info("metrics served", process=process, url=f"http://{host}:{port}/metrics")
    return server


async def describe_existing(client: AIOKafkaClient, topics: Sequence[str]) -> list[dict[str, Any]]:
    """The metadata of `topics` alone; one that does not exist comes back with an error
    code and is not created. A plain metadata request naming a topic makes a broker with
    `auto.create.topics.enable` (the local one) create it with the broker's defaults, and
    one naming none describes every topic of the cluster: 25 ms of the broker's request
    thread and a large answer to decode with the 2,000 topics the test runs leave on a
    development broker (measured 2026-12-06), which each API asked every 5 s."""
    if not topics:
        return []
    request = MetadataRequest(list(topics), allow_auto_topic_creation=False)
    response = await client.send(client.get_random_node(), request)
    described: list[dict[str, Any]] = response.to_object()["topics"]
    return described


@dataclass(frozen=True, slots=True)
class ConsumerGroup:
    """A consumer group to watch: its metric name, Kafka group id and topics."""

    consumer: str
    group_id: str
    topics: Sequence[str]


CLOSE_SECONDS = 5.0


class ConsumerLagMonitor:
    """Measures the lag of consumer groups from the broker's committed offsets.

    Measured from outside the consumers, so a consumer that is down or stuck shows a
    growing lag instead of no figure at all; any process with Kafka access (the
    service's API) can serve it.
    """

    def __init__(self, bootstrap: str, groups: Sequence[ConsumerGroup]) -> None:
        self._bootstrap = bootstrap
        self._groups = list(groups)
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._metadata: AIOKafkaClient | None = None

    async def measure(self) -> dict[tuple[str, str], int]:
        """Set the gauge for every (consumer, topic) and return the values."""
        admin, offsets, metadata = await self._clients()
        topics = sorted({topic for group in self._groups for topic in group.topics})
        # A topic not there yet gets no figure (and is not created: see describe_existing).
        partitions = described_partitions(await describe_existing(metadata, topics))
        if not partitions:
            return {}
        ends = await offsets.end_offsets(partitions)
        starts = await offsets.beginning_offsets(partitions)
        found: dict[tuple[str, str], int] = {}
        for group in self._groups:
            committed = await admin.list_consumer_group_offsets(group.group_id)
            for topic in group.topics:
                mine = [tp for tp in partitions if tp.topic == topic]
                if not mine:
                    continue
                lag = 0
                for tp in mine:
                    done = committed.get(tp)
                    # No commit yet: everything still on the partition is unprocessed.
                    position = done.offset if done is not None and done.offset >= 0 else starts[tp]
                    lag += max(ends[tp] - position, 0)
                CONSUMER_LAG.labels(group.consumer, topic).set(lag)
                found[(group.consumer, topic)] = lag
        return found

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer, AIOKafkaClient]:
        if self._admin is None or self._offsets is None or self._metadata is None:
            options = kafka_connection.client_options()
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, **options)
            offsets = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, enable_auto_commit=False, **options
            )
            metadata = AIOKafkaClient(bootstrap_servers=self._bootstrap, **options)
            try:
                await admin.start()
                await offsets.start()
                await metadata.bootstrap()
            except BaseException:
                with contextlib.suppress(Exception):
                    await metadata.close()
                with contextlib.suppress(Exception):
                    await offsets.stop()
                with contextlib.suppress(Exception):
                    await admin.close()
                raise
            self._admin, self._offsets, self._metadata = admin, offsets, metadata
        return self._admin, self._offsets, self._metadata

    async def close(self) -> None:
        """Close the clients, each within CLOSE_SECONDS: a client whose broker
        connection is stuck must not hold up the process's shutdown."""
        admin, offsets, metadata = self._admin, self._offsets, self._metadata
        self._admin = self._offsets = self._metadata = None
        if metadata is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(metadata.close(), CLOSE_SECONDS)
        if offsets is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(offsets.stop(), CLOSE_SECONDS)
        if admin is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), CLOSE_SECONDS)

    async def run(self, every: float) -> None:
        """Measure every `every` seconds until cancelled; failures are counted and logged."""
        try:
            while True:
                try:
                    await asyncio.wait_for(self.measure(), timeout=max(every * 5, 10.0))
                except Exception as exc:
                    # Kafka away, a group not there yet: count, log, and measure again.
                    for group in self._groups:
                        CONSUMER_LAG_FAILURES.labels(group.consumer).inc()
                    log.warning("consumer lag not measured", error=f"{type(exc).__name__}: {exc}")
                    await self.close()  # start afresh: the clients may be broken
                await asyncio.sleep(every)
        finally:
            await self.close()


Refresher = Callable[[], Awaitable[None]]


def refresh_periodically(name: str, refresh: Refresher, every: float) -> Refresher:
    """A loop that calls `refresh` every `every` seconds until cancelled."""

    async def loop() -> None:
        while True:
            try:
                await refresh()
            except Exception as exc:
                # A gauge is never worth the API: log, keep the last value, try again.
                log.warning(f"{name} not refreshed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(every)

    return loop


def instrument_api(
    app: FastAPI,
    *,
    service: str,
    background: Mapping[str, Callable[[], Awaitable[None]]] | None = None,
) -> None:
    """Request metrics on `app`, and `background` loops (e.g. gauge refreshers, a lag
    monitor's run) running for as long as the app's lifespan, started after it."""
    app.add_middleware(RequestMetricsMiddleware, service=service)
    if not background:
        return
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(current: Any) -> AsyncIterator[Any]:
        async with inner(current) as state:
            tasks = [asyncio.create_task(loop(), name=name) for name, loop in background.items()]
            try:
                yield state
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app.router.lifespan_context = lifespan
