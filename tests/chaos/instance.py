"""A second, separate Once-Only system for fault injection, and the faults themselves
(SIGKILL as a crash, SIGSTOP .. SIGCONT as a freeze).

The instance is the same bring-up as `make up` (deploy/local/infra.sh and services.sh)
with its own run directory, Postgres cluster, topic prefix and ports, so killing its
broker or database cannot disturb the development system or other tests. It starts from
nothing on every run: the invariants are checked over everything it ever held.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The processes of deploy/local/Procfile.
PROCESSES = (
    "intake-api",
    "intake-relay",
    "workflow-worker",
    "workflow-bridge",
    "workflow-api",
    "tracking-agent",
    "tracking-api",
    "notify",
)
# The ports each process listens on itself (its API, or its metrics): a second replica
# of it takes each of them moved by REPLICA_PORT_STEP. The others are the services'
# shared settings and stay.
OWN_PORTS: dict[str, tuple[str, ...]] = {
    "intake-api": ("ONCEONLY_INTAKE_PORT",),
    "intake-relay": ("ONCEONLY_RELAY_METRICS_PORT",),
    "workflow-worker": ("ONCEONLY_WORKER_METRICS_PORT", "ONCEONLY_WORKER_TEMPORAL_METRICS_PORT"),
    "workflow-bridge": ("ONCEONLY_BRIDGE_METRICS_PORT",),
    "workflow-api": ("ONCEONLY_WORKFLOW_API_PORT",),
    "tracking-agent": ("ONCEONLY_TRACKING_AGENT_PORT", "ONCEONLY_TRACKING_AGENT_METRICS_PORT"),
    "tracking-api": ("ONCEONLY_TRACKING_PORT",),
    "notify": ("ONCEONLY_NOTIFY_PORT",),
}
# 50: clear of every first replica's port (18000-18012, 18101-18105, 18233).
REPLICA_PORT_STEP = 50
# The API processes, by service (the traffic and the health checks reach each replica).
API_PROCESSES = {
    "intake": "intake-api",
    "workflow": "workflow-api",
    "tracking": "tracking-api",
    "notify": "notify",
}


def replica_name(process: str, replica: int) -> str:
    """`intake-api`, `intake-api-2`, ...: the first replica keeps the Procfile's name."""
    return process if replica == 1 else f"{process}-{replica}"


@dataclass(frozen=True)
class Ports:
    postgres: int = 15432
    kafka: int = 19092
    kafka_controller: int = 19093
    temporal: int = 17233
    temporal_ui: int = 18233
    intake: int = 18000
    workflow_api: int = 18001
    tracking: int = 18002
    notify: int = 18003
    tracking_agent: int = 18012


@dataclass
class Instance:
    run_dir: Path = REPO / ".run" / "chaos"
    pg_data: Path = Path("/var/lib/postgresql/15/onceonly-chaos")
    topic_prefix: str = "chaos"
    ports: Ports = field(default_factory=Ports)
    # Replicas of every process (issue 20): from 2, services.sh runs a Procfile written
    # into the run directory, with each process that many times on ports of its own.
    replicas: int = 1
    # Kafka as one broker, or a cluster of three (infra.sh with ONCEONLY_KAFKA_NODES=3:
    # node N on the Kafka port + 2(N-1); topics with three replicas, writes held by two).
    kafka_nodes: int = 1

    @property
    def infra(self) -> tuple[str, ...]:
        """The infrastructure's processes, by their pid files' names."""
        brokers = ("kafka",) if self.kafka_nodes == 1 else ("kafka-1", "kafka-2", "kafka-3")
        return ("postgres", *brokers, "temporal")

    @property
    def processes(self) -> tuple[str, ...]:
        return tuple(
            replica_name(process, n) for process in PROCESSES for n in range(1, self.replicas + 1)
        )

    @property
    def procfile(self) -> Path:
        return self.run_dir / "Procfile"

    @property
    def env(self) -> dict[str, str]:
        p = self.ports
        # The written Procfile only while it exists: `down` of an older run must still
        # find the processes it started.
        replicated = {"ONCEONLY_PROCFILE": str(self.procfile)} if self.procfile.exists() else {}
        return {
            **os.environ,
            **_moved_ports(),
            "ONCEONLY_RUN_DIR": str(self.run_dir),
            "ONCEONLY_POSTGRES_DATA_DIR": str(self.pg_data),
            "ONCEONLY_TOPIC_PREFIX": self.topic_prefix,
            "ONCEONLY_POSTGRES_PORT": str(p.postgres),
            "ONCEONLY_KAFKA_PORT": str(p.kafka),
            "ONCEONLY_KAFKA_CONTROLLER_PORT": str(p.kafka_controller),
            "ONCEONLY_KAFKA_NODES": str(self.kafka_nodes),
            "ONCEONLY_TEMPORAL_PORT": str(p.temporal),
            "ONCEONLY_TEMPORAL_UI_PORT": str(p.temporal_ui),
            "ONCEONLY_INTAKE_PORT": str(p.intake),
            "ONCEONLY_WORKFLOW_API_PORT": str(p.workflow_api),
            "ONCEONLY_TRACKING_PORT": str(p.tracking),
            "ONCEONLY_NOTIFY_PORT": str(p.notify),
            "ONCEONLY_TRACKING_AGENT_PORT": str(p.tracking_agent),
            # The load generator is one integrator submitting steadily.
            "ONCEONLY_INTEGRATOR_POST_RATE_PER_SECOND": "50",
            **replicated,
        }

    @property
    def database_url(self) -> str:
        return f"postgresql://onceonly:onceonly@127.0.0.1:{self.ports.postgres}/onceonly"

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.ports.kafka + 2 * n}" for n in range(self.kafka_nodes))

    def broker_address(self, broker: str) -> str:
        """Where `kafka-N` of the cluster listens (`kafka` when there is one broker)."""
        n = int(broker.removeprefix("kafka-")) - 1 if broker.startswith("kafka-") else 0
        return f"127.0.0.1:{self.ports.kafka + 2 * n}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports.temporal}"

    def url(self, service: str) -> str:
        port = {
            "intake": self.ports.intake,
            "workflow": self.ports.workflow_api,
            "tracking": self.ports.tracking,
            "notify": self.ports.notify,
        }[service]
        return f"http://127.0.0.1:{port}"

    def port(self, name: str, variable: str) -> int:
        """The port `variable` of process replica `name` (`workflow-worker-2`, ...)."""
        replica = int(name.rsplit("-", 1)[1]) if name.rsplit("-", 1)[-1].isdigit() else 1
        return int(self.env[variable]) + REPLICA_PORT_STEP * (replica - 1)

    def urls(self, service: str) -> list[str]:
        """The service's API, one URL per replica."""
        first = int(self.url(service).rsplit(":", 1)[1])
        return [f"http://127.0.0.1:{first + REPLICA_PORT_STEP * n}" for n in range(self.replicas)]

    def write_procfile(self) -> None:
        """deploy/local/Procfile with every process `replicas` times, each replica after
        the first on its own ports (OWN_PORTS moved by REPLICA_PORT_STEP per replica)."""
        commands = {}
        for line in (REPO / "deploy/local/Procfile").read_text().splitlines():
            name, sep, command = line.partition(":")
            if sep and not line.lstrip().startswith("#"):
                commands[name.strip()] = command.strip()
        env = self.env
        lines = ["# Written by tests/chaos/instance.py: every process, replicated."]
        for process in PROCESSES:
            for n in range(1, self.replicas + 1):
                moved = " ".join(
                    f"{key}={int(env[key]) + REPLICA_PORT_STEP * (n - 1)}"
                    for key in OWN_PORTS[process]
                )
                lines.append(f"{replica_name(process, n)}: env {moved} {commands[process]}")
        self.procfile.parent.mkdir(parents=True, exist_ok=True)
        self.procfile.write_text("\n".join(lines) + "\n")

    # --- bring-up ------------------------------------------------------------------------

    def _script(self, script: str, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [str(REPO / "deploy/local" / script), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{script} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def up(self) -> None:
        """A fresh instance: whatever an earlier run left is stopped and wiped first."""
        self.down()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        # The cluster belongs to the postgres user, under a directory only it may list.
        subprocess.run(["/usr/bin/rm", "-rf", str(self.pg_data)], check=True, timeout=60)
        if self.replicas > 1:
            self.write_procfile()
        self._script("infra.sh", "up")
        self._script(
            "services.sh", "run", str(REPO / ".venv/bin/onceonly-workflow"), "seed-registry"
        )
        self._script("services.sh", "up")

    def down(self) -> None:
        if not self.run_dir.exists():
            return
        # A process left paused (a run interrupted mid-fault) would not hear the stop.
        for name in self.processes:
            with contextlib.suppress(OSError, ValueError):
                self.resume(name)
        self._script("services.sh", "down")
        self._script("infra.sh", "down")

    def cli(self, *args: str) -> str:
        return self._script("services.sh", "run", *args, timeout=120)

    # --- faults ----------------------------------------------------------------------------

    def pid(self, name: str) -> int:
        if name == "postgres":
            # The postmaster's pid is the first line of its pid file (root may read it).
            return int((self.pg_data / "postmaster.pid").read_text().split()[0])
        return int((self.run_dir / "pids" / f"{name}.pid").read_text().strip())

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash: no shutdown hook, no flush, no goodbye to Kafka or Temporal."""
        pid = self.pid(name)
        if name == "postgres":
            # A crashed server takes its backends with it; a postmaster killed alone
            # would leave them holding shared memory and the restart would refuse.
            victims = [pid, *_children(pid)]
            for victim in victims:
                _kill(victim)
            _wait_gone(victims)
            return
        # Started with setsid: the pid leads its own process group (Temporal's and the
        # JVM's threads, uvicorn's workers, faust's helpers all go with it).
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _wait_gone([pid])

    def pause(self, name: str) -> None:
        """SIGSTOP to the whole process group, as a frozen process (a long GC pause, a
        stalled VM): it keeps its sockets, its Kafka group membership and its locks, and
        does nothing until `resume`."""
        os.killpg(self.pid(name), signal.SIGSTOP)
        _wait_state(self.pid(name), "T")

    def resume(self, name: str) -> None:
        """SIGCONT to the process group `pause` stopped."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid(name), signal.SIGCONT)

    def start(self, name: str) -> None:
        if name in self.infra:
            self._script("infra.sh", "start", name)
        else:
            self._script("services.sh", "start", name)

    def stopped(self) -> dict[str, str]:
        """The processes of the instance that are not running, each with the last line
        of its log (often why it stopped). Cheap: pid files and /proc only."""
        found = {}
        for name in (*self.infra, *self.processes):
            try:
                pid = self.pid(name)
            except (OSError, ValueError):
                pid = 0
            if not _alive(pid):
                found[name] = _last_line(self.run_dir / "logs" / f"{name}.log")
        return found

    def wait_healthy(self) -> None:
        """Every process of the instance runs and every service answers /health, on
        each of its replicas (services.sh checks the first's port only)."""
        self._script("services.sh", "status", timeout=60)
        for service in API_PROCESSES:
            for url in self.urls(service)[1:]:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=3) as answer:
                        healthy = answer.status == 200
                except OSError:
                    healthy = False
                if not healthy:
                    raise RuntimeError(f"{url}/health does not answer 200")


def _moved_ports(offset: int = 10000) -> dict[str, str]:
    """Every port of deploy/local/env moved by `offset`, so that a port added there later
    cannot collide with the development system's (the named ones below win)."""
    moved = {}
    for line in (REPO / "deploy/local/env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.endswith("_PORT") and value.strip().isdigit() and int(value) > 0:
            moved[key.strip()] = str(int(value) + offset)
    return moved


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


def _wait_gone(pids: list[int], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return
        time.sleep(0.1)
    raise RuntimeError(f"processes {pids} still alive {within}s after SIGKILL")


def _wait_state(pid: int, state: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _state(pid) == state:
            return
        time.sleep(0.05)
    raise RuntimeError(f"process {pid} not in state {state} {within}s after the signal")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _last_line(log: Path) -> str:
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")[:300]


def _alive(pid: int) -> bool:
    return _state(pid) not in ("", "Z", "X")
