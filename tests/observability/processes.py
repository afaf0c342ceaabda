"""The system's processes, started for one test as deploy/local/Procfile starts them,
on a topic prefix, task queue, region code and consumer groups of their own, exporting
their spans over OTLP/HTTP to a receiver the test runs (standard `OTEL_*` variables
only)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from onceonly.platform.testing import (
    free_ports,
    test_database_url,
    test_kafka_bootstrap,
    unique_prefix,
)

BIN = Path(sys.executable).parent
COMMANDS = {
    "intake-api": ["onceonly-intake", "api"],
    "intake-relay": ["onceonly-intake", "relay"],
    "workflow-worker": ["onceonly-workflow", "worker"],
    "workflow-bridge": ["onceonly-workflow", "bridge"],
    "workflow-api": ["onceonly-workflow", "api"],
    "tracking-agent": ["onceonly-tracking", "agent"],
    "tracking-api": ["onceonly-tracking", "api"],
    "notify": ["onceonly-notify", "run"],
}
# Which setting holds the port of each process that serves HTTP.
PORT_SETTINGS = {
    "intake-api": "ONCEONLY_INTAKE_PORT",
    "workflow-api": "ONCEONLY_WORKFLOW_API_PORT",
    "tracking-api": "ONCEONLY_TRACKING_PORT",
    "notify": "ONCEONLY_NOTIFY_PORT",
}


@dataclass(frozen=True)
class Running:
    urls: Mapping[str, str]  # by process name, for those that serve HTTP
    logs: Mapping[str, Path]
    env: Mapping[str, str]


@contextmanager
def running(names: list[str], *, otlp_endpoint: str, log_dir: Path) -> Iterator[Running]:
    """Start `names` (keys of COMMANDS); SIGTERM them on exit (kill after 30 s)."""
    prefix = unique_prefix("trace")
    serving = [name for name in names if name in PORT_SETTINGS]
    ports = dict(zip(serving, free_ports(len(serving)), strict=True))
    env = {
        **os.environ,
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_DATABASE_URL": test_database_url(),
        "ONCEONLY_KAFKA_BOOTSTRAP": test_kafka_bootstrap(),
        "ONCEONLY_TOPIC_PREFIX": prefix,
        "ONCEONLY_TEMPORAL_TASK_QUEUE": prefix,
        "ONCEONLY_NOTIFY_CONSUMER_GROUP": f"{prefix}-notify",
        # Application codes (= workflow ids) that no earlier run on this database made.
        "ONCEONLY_REGION_CODE": str(random.randint(900000, 999999)),
        "ONCEONLY_HEARTBEAT_SECONDS": "0.5",
        "ONCEONLY_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        **{PORT_SETTINGS[name]: str(port) for name, port in ports.items()},
    }
    for name in ("OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER"):
        env.pop(name, None)
    logs = {name: log_dir / f"{name}.log" for name in names}
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in names:
            script, command = COMMANDS[name]
            with logs[name].open("wb") as log:
                started[name] = subprocess.Popen(
                    [str(BIN / script), command], env=env, stdout=log, stderr=subprocess.STDOUT
                )
        yield Running(
            urls={name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
            logs=logs,
            env=env,
        )
    finally:
        for process in started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in started.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                print(f"{name} did not stop on SIGTERM; killed")


def integrator_key(env: Mapping[str, str], name: str = "trace test portal") -> str:
    """An API key of a (reused) integrator, made with the admin CLI as an operator would."""
    out = subprocess.run(
        [str(BIN / "onceonly-intake"), "integrator", "create", name, "--reuse", "--json"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return str(json.loads(out)["api_key"])


async def healthy(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/health")).status_code == 200
    except httpx.TransportError:
        return False


def json_lines(path: Path) -> list[dict[str, object]]:
    """The JSON lines of a process's log (other lines, e.g. a traceback, skipped)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found
