"""`python -m bench.tracking_ingest --applications 300 [--json out.json] [--profile 15]`

Tracking's ingest rate against a raw aiokafka consume of the same records, confined to
scratch topics: nothing the running services follow is touched.

1. The events of N auto-approved applications are written to topics of a scratch prefix
   (`bench-ingest-<run>`): clones of the newest completed housing-fund loan's timeline
   (submission, acceptance, task start, decision, completion, notifications), each with
   a new application code, new event ids, notification causes mapped to the new ids,
   and a trace context, so the records are what the services publish.
2. Raw: a plain aiokafka consumer reads every record of those topics (no processing).
3. A tracking agent (`onceonly-tracking agent`, topic prefix the scratch one, so its own
   consumer group, deferrals and progress; no web, metrics or checkpoints) is started
   with the backlog written, and timed until every event is on the timelines of the
   shared database; its CPU is read from /proc.

The agent is stopped and the scratch topics and the agent's own rows (partition
progress, deferred events) are removed at the end. The applications' timelines stay
(the timeline is append-only); their codes, `330100-B<run>-NNNNN`, say they are the
bench's. `ratio` is against the exact raw read (seek to the start, read to the end);
`ratio_as_bench` against the read `make bench`'s tracking drain makes (read_since, the
issue's figure), which waits on fetch timeouts and so varies from run to run.
`ratio_to_raw_write` is against the same rows written again through asyncpg in the
agent's batch shape (bench/raw_timeline.py): the durable work alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from google.protobuf.message import Message

from bench.config import REPO
from bench.kafka_tools import delete_topics, raw_consumer, read_since
from bench.monitor import cpu_seconds, terminate
from bench.profile import py_spy
from bench.raw_timeline import raw_timeline_write
from bench.stats import progress_rate, rate_over_time
from onceonly.events.v1 import notification_pb2
from onceonly.platform.envelope import new_envelope
from onceonly.platform.events import parse_event
from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.topics import APPLICATION_STREAMS, Stream, topic_name

PARTITIONS = 3  # as the agent's topics (agents.PARTITIONS)
TEMPLATE_MATTER = "housing-fund-loan"
# Notify's ledger ids for a second message about one event (causes.PART_SEPARATOR).
PART_SEPARATOR = "#"


@dataclass(frozen=True)
class TemplateEvent:
    event_id: str
    stream: Stream
    ce_type: str
    source: str
    data: bytes


async def timeline_template(pool: asyncpg.Pool) -> list[TemplateEvent]:
    """The timeline of a recently completed housing-fund loan (the bench's 秒批 matter)."""
    # Of the completed ones, the longest story (notifications included), newest first.
    code = await pool.fetchval(
        "SELECT s.application_code FROM (SELECT application_code, updated_at"
        " FROM tracking.application_status WHERE matter_code = $1 AND status = 'completed') AS s"
        " ORDER BY (SELECT count(*) FROM tracking.timeline AS t"
        " WHERE t.application_code = s.application_code) DESC, s.updated_at DESC LIMIT 1",
        TEMPLATE_MATTER,
    )
    if code is None:
        raise SystemExit(
            f"no completed {TEMPLATE_MATTER} application on the timelines to clone: run"
            " `make demo` or one workflow benchmark first"
        )
    rows = await pool.fetch(
        "SELECT event_id, ce_type, ce_source, topic, data FROM tracking.timeline"
        " WHERE application_code = $1 ORDER BY seq",
        code,
    )
    by_topic = {topic_name("onceonly", stream).split(".", 1)[1]: stream for stream in Stream}
    return [
        TemplateEvent(
            event_id=row["event_id"],
            stream=by_topic[row["topic"].split(".", 1)[1]],
            ce_type=row["ce_type"],
            source=row["ce_source"],
            data=bytes(row["data"]),
        )
        for row in rows
    ]


def clone_timeline(events: list[TemplateEvent], code: str) -> list[tuple[Stream, Any]]:
    """The template's events as application `code`'s: new ids, causes mapped."""
    ids = {event.event_id: str(uuid.uuid4()) for event in events}
    cloned = []
    for event in events:
        message: Message = parse_event(event.ce_type, event.data)
        if hasattr(message, "application_code"):
            message.application_code = code  # type: ignore[attr-defined]
        if isinstance(message, notification_pb2.NotificationSent) and message.cause_event_id:
            cause, sep, part = message.cause_event_id.partition(PART_SEPARATOR)
            message.cause_event_id = ids.get(cause, cause) + sep + part
        trace = {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}
        envelope = new_envelope(
            message,
            source=event.source,
            application_code=code,
            event_id=ids[event.event_id],
            time=datetime.now(UTC),
            trace_headers=trace,
        )
        cloned.append((event.stream, envelope))
    return cloned


async def _produce(
    bootstrap: str, prefix: str, codes: list[str], template: list[TemplateEvent]
) -> int:
    """Write every application's events, stage by stage across blocks of applications
    (as a system under load interleaves them)."""
    await ensure_topics(
        bootstrap, [topic_name(prefix, s) for s in APPLICATION_STREAMS], partitions=PARTITIONS
    )
    producer = build_producer(bootstrap, client_id=f"{prefix}-load")
    await producer.start()
    sent = 0
    try:
        block = 50
        for start in range(0, len(codes), block):
            clones = [clone_timeline(template, code) for code in codes[start : start + block]]
            pending = []
            for stage in range(len(template)):
                for events in clones:
                    stream, envelope = events[stage]
                    pending.append(
                        await producer.send(
                            topic_name(prefix, stream),
                            value=envelope.data,
                            key=envelope.subject.encode(),
                            headers=envelope.headers(),
                        )
                    )
            await asyncio.gather(*pending)
            sent += len(pending)
    finally:
        await producer.stop()
    return sent


async def _raw_consume(bootstrap: str, prefix: str) -> dict[str, Any]:
    """A plain consumer reading every record of the scratch topics (no processing)."""
    # With "latest" and seek_to_beginning after assign, some runs read nothing for the
    # whole two minutes (records 0, 2026-12-05): the explicit seeks below and "earliest"
    # leave no position to race.
    consumer = raw_consumer(bootstrap, offset_reset="earliest")
    await consumer.start()
    cpu0 = time.process_time()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(topic_name(prefix, s), p)
            for s in APPLICATION_STREAMS
            for p in range(PARTITIONS)
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        todo = {tp: end for tp, end in ends.items() if end > 0}
        for partition in partitions:
            consumer.seek(partition, 0)  # scratch topics: nothing deleted, offsets from 0
        records = 0
        start = time.perf_counter()
        while todo and time.perf_counter() - start < 120:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for tp, got in batch.items():
                records += len(got)
                if got and got[-1].offset + 1 >= todo.get(tp, 0):
                    todo.pop(tp, None)
        seconds = time.perf_counter() - start
    finally:
        await consumer.stop()
    return {
        "records": records,
        "complete": not todo,
        "seconds": round(seconds, 3),
        # A read that did not reach the end is no measurement of the raw rate.
        "records_per_s": round(records / seconds, 1) if seconds > 0 and not todo else None,
        "cpu_ms_per_record": round((time.process_time() - cpu0) * 1000 / max(1, records), 3),
    }


def _agent_env(prefix: str, database_url: str, bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCEONLY_")}
    env.update(
        ONCEONLY_ENVIRONMENT="development",
        ONCEONLY_DATABASE_URL=database_url,
        ONCEONLY_KAFKA_BOOTSTRAP=bootstrap,
        ONCEONLY_TOPIC_PREFIX=prefix,
        ONCEONLY_TRACKING_AGENT_PORT="0",
        ONCEONLY_TRACKING_AGENT_METRICS_PORT="0",
        # Checkpoints cover every timeline: the running agent makes them.
        ONCEONLY_TRACKING_CHECKPOINT_SECONDS="0",
        # As deploy/local/env runs it: one log line per event recorded.
        ONCEONLY_LOG_LEVEL="INFO",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        PYTHONUNBUFFERED="1",
    )
    return env


def _start_agent(prefix: str, args: argparse.Namespace, log_path: Path) -> subprocess.Popen[bytes]:
    """The project's own entry point, on the scratch prefix, its output to `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [str(REPO / ".venv/bin/onceonly-tracking"), "agent"],
            env=_agent_env(prefix, args.database_url, args.bootstrap),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(REPO),
        )


def _start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording `pid` for `seconds` into `out` (collapsed stacks)."""
    exe = py_spy()
    if exe is None:
        return None
    # 400 samples/s: a drain lasts seconds, and py-spy's default 100/s gave a few hundred.
    command = [exe, "record", "--pid", str(pid), "--nonblocking", "-f", "raw", "--rate", "400"]
    command += ["-o", str(out), "-d", str(int(seconds))]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _drain(
    pool: asyncpg.Pool,
    agent: subprocess.Popen[bytes],
    codes: list[str],
    total: int,
    *,
    limit_seconds: float,
    profile_seconds: float,
    profile_out: Path | None,
) -> dict[str, Any]:
    """Poll the timelines until every event is there; CPU of the agent from /proc."""
    begin = time.monotonic()
    samples: list[tuple[float, int, float]] = []  # (t, recorded, agent cpu s)
    spy: subprocess.Popen[bytes] | None = None
    while True:
        done = await pool.fetchval(
            "SELECT count(*) FROM tracking.timeline WHERE application_code = ANY($1::text[])",
            codes,
        )
        now = time.monotonic()
        cpu = cpu_seconds(agent.pid)
        if cpu is None or agent.poll() is not None:
            raise SystemExit(f"the agent exited ({agent.returncode}) with {done}/{total} recorded")
        samples.append((now, done, cpu))
        if done and spy is None and profile_seconds > 0 and profile_out is not None:
            spy = _start_profile(agent.pid, profile_seconds, profile_out)
        if done >= total or now - begin > limit_seconds:
            break
        await asyncio.sleep(0.25)
    if spy is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(timeout=profile_seconds + 10)
    stamps = [
        row["at"]
        for row in await pool.fetch(
            "SELECT extract(epoch FROM recorded_at)::float8 AS at FROM tracking.timeline"
            " WHERE application_code = ANY($1::text[])",
            codes,
        )
    ]
    first = next(s for s in samples if s[1] > 0)
    last = samples[-1]
    events = last[1] - first[1]
    return {
        "events": total,
        "recorded": last[1],
        "complete": last[1] >= total,
        "first_recorded_after_start_s": round(first[0] - begin, 2),
        "events_per_s": round(rate_over_time(stamps), 1),
        "events_per_s_by_progress": progress_rate([(t, n) for t, n, _ in samples], total),
        "drain_seconds": round(max(stamps) - min(stamps), 2) if stamps else None,
        "agent_cpu_ms_per_event": round((last[2] - first[2]) * 1000 / events, 3)
        if events
        else None,
        "agent_cores": round((last[2] - first[2]) / (last[0] - first[0]), 2)
        if last[0] > first[0]
        else None,
        "agent_startup_cpu_s": round(first[2], 2),
    }


async def _clean_rows(pool: asyncpg.Pool, prefix: str) -> None:
    """The scratch agent's own rows. The applications' timelines stay: the timeline is
    append-only (a trigger refuses deletes), and their codes say they are the bench's."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM tracking.partition_progress WHERE topic LIKE $1", f"{prefix}.%"
        )
        await conn.execute(
            "DELETE FROM platform.deferred_events WHERE consumer = $1", f"{prefix}-tracking"
        )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench-ingest-{run_id}"
    pool = await asyncpg.create_pool(args.database_url, min_size=1, max_size=2)
    agent: subprocess.Popen[bytes] | None = None
    log_path = Path(tempfile.gettempdir()) / f"{prefix}-agent.log"
    try:
        template = await timeline_template(pool)
        codes = [f"330100-B{run_id}-{i:05d}" for i in range(args.applications)]
        since_ms = int(time.time() * 1000) - 1000
        t0 = time.perf_counter()
        total = await _produce(args.bootstrap, prefix, codes, template)
        produced_s = time.perf_counter() - t0
        print(f"backlog: {total:,} events of {len(codes):,} applications in {produced_s:.1f} s")
        raw = await _raw_consume(args.bootstrap, prefix)
        # The same read as `make bench`'s drains (bench/drain.py): the issue's ratio.
        records, seconds = await read_since(
            args.bootstrap, [topic_name(prefix, s) for s in APPLICATION_STREAMS], since_ms
        )
        raw_as_bench = {
            "what": "bench.kafka_tools.read_since, as make bench's tracking drain reads",
            "records": len(records),
            "seconds": round(seconds, 3),
            "records_per_s": round(len(records) / seconds, 1) if seconds > 0 else None,
        }
        print(
            f"raw consume: {raw['records_per_s']} records/s;"
            f" as make bench reads: {raw_as_bench['records_per_s']} records/s"
        )
        agent = _start_agent(prefix, args, log_path)
        profile_out = Path(args.profile_out) if args.profile_out else None
        system = await _drain(
            pool,
            agent,
            codes,
            total,
            limit_seconds=args.timeout,
            profile_seconds=args.profile,
            profile_out=profile_out,
        )
        # The agent is done; the same rows written raw, without it competing.
        terminate(agent, within=30)
        raw_write = await raw_timeline_write(pool, codes)
        print(f"raw write of the same rows: {raw_write['events_per_s']} events/s")
        raw_rate = raw["records_per_s"] or 0
        result = {
            "run": prefix,
            "applications": len(codes),
            "events_per_application": len(template),
            "raw": raw,
            "tracking": system,
            "raw_as_bench": raw_as_bench,
            "ratio": round(system["events_per_s"] / raw_rate, 4) if raw_rate else None,
            "ratio_as_bench": round(system["events_per_s"] / raw_as_bench["records_per_s"], 3)
            if raw_as_bench["records_per_s"]
            else None,
            "raw_write": raw_write,
            "ratio_to_raw_write": round(system["events_per_s"] / raw_write["events_per_s"], 3)
            if raw_write["events_per_s"]
            else None,
            "agent_log": str(log_path),
        }
        return result
    finally:
        if agent is not None:
            terminate(agent, within=30)
        with contextlib.suppress(Exception):
            await delete_topics(args.bootstrap, prefix)
        await _clean_rows(pool, prefix)
        await pool.close()
        shutil.rmtree(Path(tempfile.gettempdir()) / f"{prefix}-tracking-data", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=300)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--profile", type=float, default=0, help="py-spy seconds (0: none)")
    parser.add_argument("--profile-out", default="", help="collapsed stacks go here")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("ONCEONLY_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "ONCEONLY_DATABASE_URL", "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly"
        ),
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if not result["tracking"]["complete"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
