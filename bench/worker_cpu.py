"""The workflow worker's CPU per auto-approved application, measured in isolation: the
production worker (`production_worker`, as `onceonly-workflow worker` wires it: every
workflow, activities over Postgres and Kafka, the encrypting data converter) runs in
this process on a task queue and topic prefix of its own, beside the running system
and unseen by it.

    python -m bench.worker_cpu --applications 200 [--sandbox/--no-sandbox]
        [--open 2000] [--cache N] [--loop uvloop|asyncio] [--profile] [--json out.json]

The N workflows of the bench's loan application (bench/payloads.py, every shared-data
check passes, so each completes on its own) are started first, with no worker polling;
then the worker starts and the CPU of this process (user and system, every thread: the
SDK's Rust core included) is counted until all have completed. The client's own work
(the starts, then one visibility count per half second) is the only other thing in the
process. `--open N` then starts N household transfers that stay open in approval (one
department's task, its clocks' timers days away: the supervision benchmark's open
tasks), all cached by the worker (`--cache`), and reports the process's resident memory
before and after; they are terminated at the end. Scratch topics, the
licences and task-list rows of the run's applications are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import uvloop
from temporalio.client import Client
from temporalio.converter import DefaultPayloadConverter
from temporalio.worker import _workflow as sdk_workflow_worker

from bench import profile
from bench.config import RESULTS
from bench.kafka_tools import delete_topics
from bench.payloads import APPLICANT_ID, CHECKS, MATTER, MOBILE
from onceonly.platform.db import create_pool
from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.pii import PiiSealer, mask_mobile
from onceonly.platform.telemetry import configure_logging, configure_telemetry
from onceonly.platform.topics import all_topics
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import WORKFLOW_NAME, ApplicationInput, ConsentInput, ContactInput
from onceonly.workflow.temporal import connect
from onceonly.workflow.worker import production_worker

START_CONCURRENCY = 32
POLL_SECONDS = 0.5


class ActivationCounter:
    """Counts the workflow activations the SDK hands to Python (each a run of workflow
    code: a workflow task, a local activity's result, an eviction), by wrapping the
    SDK's private handler: a bench-only measurement, nothing in the service does it."""

    def __init__(self) -> None:
        self.count = 0
        self.activated = asyncio.Event()
        self._original = sdk_workflow_worker._WorkflowWorker._handle_activation

    def __enter__(self) -> ActivationCounter:
        original = self._original

        async def counted(worker: Any, act: Any) -> None:
            self.count += 1
            self.activated.set()
            await original(worker, act)

        sdk_workflow_worker._WorkflowWorker._handle_activation = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        sdk_workflow_worker._WorkflowWorker._handle_activation = self._original  # type: ignore[method-assign]


@dataclass(frozen=True)
class Cpu:
    user: float
    system: float
    wall: float

    @classmethod
    def now(cls) -> Cpu:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(usage.ru_utime, usage.ru_stime, time.monotonic())

    def since(self, before: Cpu) -> Cpu:
        return Cpu(self.user - before.user, self.system - before.system, self.wall - before.wall)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def loan(code: str, sealer: PiiSealer) -> ApplicationInput:
    """The workflow input the bridge builds from the bench's loan submission (sealed
    as intake seals it)."""
    return ApplicationInput(
        application_code=code,
        matter_code=MATTER,
        integrator_id="bench",
        applicant_kind="person",
        materials=["loan-application"],
        contact=ContactInput(
            mobile_sealed=sealer.seal(MOBILE, context=f"{code}:mobile"),
            mobile_masked=mask_mobile(MOBILE),
            channels=["sms"],
            language="zh",
        ),
        submitted_at="2026-12-05T09:00:00Z",
        identifier_sealed=sealer.seal(APPLICANT_ID, context=f"{code}:identifier"),
        form_json=json.dumps({"loan_amount_cny": 600000, "loan_term_years": 30}),
        consents=[
            ConsentInput(check, f"bench://consent/{check}", "2026-12-05T09:00:00Z")
            for check in CHECKS
        ],
        competent_region="330100",
    )


# An open application as the supervision benchmark opens them: one department's task in
# approval, its clocks' timers (yellow, red, legal) running for days.
OPEN_MATTER = "household-transfer"
OPEN_MATERIALS = ["transfer-application", "resident-id", "housing-proof", "household-register"]


def in_approval(code: str, sealer: PiiSealer) -> ApplicationInput:
    return ApplicationInput(
        application_code=code,
        matter_code=OPEN_MATTER,
        integrator_id="bench",
        applicant_kind="person",
        materials=list(OPEN_MATERIALS),
        contact=ContactInput(
            mobile_sealed=sealer.seal(MOBILE, context=f"{code}:mobile"),
            mobile_masked=mask_mobile(MOBILE),
        ),
        submitted_at="2026-12-05T09:00:00Z",
        competent_region="330100",
    )


async def bounded(calls: Iterable[Callable[[], Awaitable[Any]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


async def start_all(
    client: Client, apps: list[ApplicationInput], task_queue: str, limit: int
) -> None:
    def start(app: ApplicationInput) -> Callable[[], Awaitable[Any]]:
        return lambda: client.start_workflow(
            WORKFLOW_NAME, app, id=app.application_code, task_queue=task_queue
        )

    await bounded((start(app) for app in apps), limit)


async def wait_closed(client: Client, task_queue: str, n: int, *, within: float) -> int:
    """Until `n` workflows of the queue have closed (or `within` s); the number closed."""
    query = f"TaskQueue = '{task_queue}' AND ExecutionStatus != 'Running'"
    deadline = time.monotonic() + within
    closed = 0
    while time.monotonic() < deadline:
        closed = (await client.count_workflows(query)).count
        if closed >= n:
            break
        await asyncio.sleep(POLL_SECONDS)
    return closed


async def wait_quiet(counter: ActivationCounter, *, at_least: int, quiet: float = 2.0) -> None:
    """Until `at_least` activations were handled and none for `quiet` seconds."""
    while True:
        counter.activated.clear()
        try:
            await asyncio.wait_for(counter.activated.wait(), quiet)
        except TimeoutError:
            if counter.count >= at_least:
                return


async def statuses(client: Client, task_queue: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for status in ("Completed", "Failed", "Terminated", "TimedOut", "Running"):
        query = f"TaskQueue = '{task_queue}' AND ExecutionStatus = '{status}'"
        found[status] = (await client.count_workflows(query)).count
    return found


async def measure(args: argparse.Namespace, run: str, log_file: TextIO) -> dict[str, Any]:
    prefix = f"benchwc-{run}"
    overrides: dict[str, Any] = {
        "environment": "development",
        "topic_prefix": prefix,
        "temporal_task_queue": prefix,
    }
    if args.sandbox is not None:
        overrides["worker_sandbox"] = args.sandbox
    if args.cache is not None:
        overrides["worker_max_cached_workflows"] = args.cache
    settings = WorkflowSettings(**overrides)
    # As `onceonly-workflow worker` configures itself: JSON logs (to a file here) and
    # spans recorded, since both cost the worker CPU.
    configure_logging("workflow-worker", settings.log_level, stream=log_file)
    configure_telemetry("onceonly-workflow")
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    codes = [f"BENCHWC-{run}-{i:06d}" for i in range(args.applications)]
    open_codes = [f"BENCHWC-{run}-open-{i:06d}" for i in range(args.open)]
    result: dict[str, Any] = {
        "run": run,
        "applications": args.applications,
        "sandbox": settings.worker_sandbox,
        "sdk_converter": args.sdk_converter,
        "max_cached_workflows": settings.worker_max_cached_workflows,
    }

    await ensure_topics(settings.kafka_bootstrap, all_topics(prefix))
    pool = await create_pool(settings.database_url, max_size=4)
    producer = build_producer(settings.kafka_bootstrap, client_id=f"{prefix}-worker")
    await producer.start()
    client = await connect(settings)
    if args.sdk_converter:  # for comparison: the SDK's own decoding of dataclasses
        config = client.config()
        config["data_converter"] = dataclasses.replace(
            config["data_converter"], payload_converter_class=DefaultPayloadConverter
        )
        client = Client(**config)
    try:
        before = Cpu.now()
        await start_all(client, [loan(c, sealer) for c in codes], prefix, START_CONCURRENCY)
        result["client_start_cpu_ms_per_application"] = round(
            _ms(Cpu.now().since(before)) / max(1, args.applications), 2
        )
        with ActivationCounter() as counter:
            # Built first: the sandbox checks each workflow class once, at construction.
            worker = production_worker(client, settings, pool=pool, producer=producer)
            rss_before = rss_mib()
            before = Cpu.now()
            async with worker:
                recording = None
                if args.profile:
                    recording = await profile.start(
                        "bench-worker",
                        os.getpid(),
                        seconds=args.profile_seconds,
                        output=RESULTS / f"worker_cpu.{run}.folded",
                    )
                closed = await wait_closed(client, prefix, len(codes), within=args.timeout)
                spent = Cpu.now().since(before)
                activations = counter.count
                if recording is not None:
                    result["profile"] = await profile.finish(recording)
                result.update(
                    closed=closed,
                    statuses=await statuses(client, prefix),
                    wall_s=round(spent.wall, 2),
                    cpu_ms_per_application=round(_ms(spent) / max(1, closed), 2),
                    user_ms_per_application=round(spent.user * 1000 / max(1, closed), 2),
                    system_ms_per_application=round(spent.system * 1000 / max(1, closed), 2),
                    activations_per_application=round(activations / max(1, closed), 2),
                    rss_mib_after_run=round(rss_mib(), 1),
                    rss_mib_before_worker=round(rss_before, 1),
                )
                if open_codes:
                    result["open"] = await hold_open(
                        client,
                        prefix,
                        [in_approval(c, sealer) for c in open_codes],
                        counter,
                    )
    finally:
        await cleanup(client, pool, settings, prefix, codes, open_codes)
        await producer.stop()
        await pool.close()
    return result


async def hold_open(
    client: Client, task_queue: str, apps: list[ApplicationInput], counter: ActivationCounter
) -> dict[str, Any]:
    """Start `apps` (each stays open in approval) and measure the memory they hold."""
    rss_before = rss_mib()
    seen = counter.count
    before = Cpu.now()
    await start_all(client, apps, task_queue, START_CONCURRENCY)
    # Each open application takes its first task and its local activities, then waits.
    await wait_quiet(counter, at_least=seen + 2 * len(apps))
    spent = Cpu.now().since(before)
    rss_after = rss_mib()
    return {
        "workflows": len(apps),
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_after": round(rss_after, 1),
        "rss_kib_per_workflow": round((rss_after - rss_before) * 1024 / max(1, len(apps)), 1),
        "activations_per_workflow": round((counter.count - seen) / max(1, len(apps)), 2),
        "cpu_ms_per_workflow_incl_starts": round(_ms(spent) / max(1, len(apps)), 2),
    }


async def cleanup(
    client: Client,
    pool: Any,
    settings: WorkflowSettings,
    prefix: str,
    codes: list[str],
    open_codes: list[str],
) -> None:
    """Terminate what is still open, remove the run's rows and topics."""

    def terminate(code: str) -> Callable[[], Awaitable[Any]]:
        async def call() -> None:
            with contextlib.suppress(Exception):  # closed already
                await client.get_workflow_handle(code).terminate(reason="bench.worker_cpu")

        return call

    running = f"TaskQueue = '{prefix}' AND ExecutionStatus = 'Running'"
    with contextlib.suppress(Exception):
        if (await client.count_workflows(running)).count:
            await bounded((terminate(c) for c in [*codes, *open_codes]), START_CONCURRENCY)
    every = [*codes, *open_codes]
    async with pool.acquire() as connection:
        await connection.execute(
            "DELETE FROM workflow.elicences WHERE application_code = ANY($1::text[])", every
        )
        await connection.execute(
            "DELETE FROM workflow.task_list WHERE application_code = ANY($1::text[])", every
        )
    await delete_topics(settings.kafka_bootstrap, f"{prefix}.")


def _ms(cpu: Cpu) -> float:
    return (cpu.user + cpu.system) * 1000


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_cpu", description=__doc__)
    parser.add_argument("--applications", type=int, default=200)
    parser.add_argument(
        "--sandbox",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run workflows in the sandbox (default: the worker's setting)",
    )
    parser.add_argument(
        "--sdk-converter",
        action="store_true",
        help="decode with the SDK's default payload converter (for comparison)",
    )
    parser.add_argument("--cache", type=int, default=None, help="max cached workflows")
    parser.add_argument("--open", type=int, default=0, help="open workflows for the RSS")
    parser.add_argument("--profile", action="store_true", help="py-spy this process")
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the event loop (default: the worker's, uvloop; asyncio for comparison)",
    )
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    run = uuid.uuid4().hex[:8]
    log_path = Path(f"/tmp/worker_cpu.{run}.log")
    with log_path.open("w", encoding="utf-8") as log_file:
        runner = uvloop.run if args.loop == "uvloop" else asyncio.run
        result = runner(measure(args, run, log_file))
        result["loop"] = args.loop
    with log_path.open(encoding="utf-8") as written:
        result["log_lines"] = sum(1 for _ in written)
    result["log_file"] = str(log_path)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
