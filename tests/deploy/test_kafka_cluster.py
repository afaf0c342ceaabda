"""The local three-node Kafka cluster (deploy/local/kafka-cluster.sh) as the fault-
injection runs use it: topics laid out by the settings with three replicas and
min.insync.replicas 2, an idempotent acks=all producer that keeps writing while a broker
is killed (SIGKILL) and after it comes back, and then, with another broker killed, every
acknowledged record read back in order. Real JVMs, on ports and a run directory of the
test's own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from onceonly.platform import kafka_connection
from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.kafka_connection import KafkaSecurity, TopicLayout
from onceonly.platform.partition_reader import topic_partitions
from onceonly.platform.testing import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy/local/kafka-cluster.sh"
TOPIC = "cluster-test.approval-events.v1"
KEYS = [f"330100-2026-{n:06d}" for n in range(10)]


def free_base_port() -> int:
    """Six consecutive free ports (three nodes, client and controller each)."""
    for base in range(31092, 39000, 16):
        taken = False
        for port in range(base, base + 6):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return base
    raise AssertionError("no six consecutive free ports")


class Cluster:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.env = {
            **os.environ,
            "ONCEONLY_RUN_DIR": str(run_dir),
            "ONCEONLY_KAFKA_CLUSTER_PORT": str(free_base_port()),
            # A throw-away cluster: a node still waiting for its controlled shutdown
            # after 10 s is killed.
            "ONCEONLY_STOP_TIMEOUT": "10",
        }

    def script(self, *args: str) -> str:
        done = subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout.strip()

    def kill(self, node: int) -> None:
        pid = int((self.run_dir / "pids" / f"kafka-{node}.pid").read_text().strip())
        os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("kafka-cluster"))
    try:
        started.script("up")
        yield started
    finally:
        started.script("down")


@pytest.fixture
def replicated() -> Iterator[None]:
    kafka_connection.use(
        KafkaSecurity(), TopicLayout(3, replication_factor=3, min_insync_replicas=2)
    )
    yield
    kafka_connection.use(KafkaSecurity(), TopicLayout())


async def in_sync(bootstrap: str) -> list[int]:
    """The number of replicas in sync, per partition of the topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([TOPIC])
    finally:
        await admin.close()
    return [len(partition["isr"]) for partition in described["partitions"]]


async def test_acknowledged_writes_survive_brokers_killed_one_at_a_time(
    cluster: Cluster, replicated: None
) -> None:
    bootstrap = cluster.script("bootstrap")
    await ensure_topics(bootstrap, [TOPIC])
    # A describe asks a broker chosen at random, which may learn of the topic a moment
    # after the one ensure_topics heard from.
    await eventually(
        lambda: topic_partitions(bootstrap, [TOPIC]),
        lambda partitions: len(partitions) == 3,
        within=30.0,
        what="three partitions described",
    )

    producer = build_producer(bootstrap, client_id="cluster-test")
    await producer.start()
    sent: dict[str, list[int]] = {key: [] for key in KEYS}

    async def write(numbers: range) -> None:
        for n in numbers:
            key = KEYS[n % len(KEYS)]
            await producer.send_and_wait(TOPIC, value=str(n).encode(), key=key.encode())
            sent[key].append(n)

    try:
        await write(range(0, 100))
        cluster.kill(2)  # a crash: the other two stay in sync, writes go on
        await write(range(100, 200))
        cluster.script("start", "2")
        await write(range(200, 300))
    finally:
        await producer.stop()

    # Node 2 back in sync on every partition, then another broker lost: every
    # acknowledged record is still there (the controller fences node 1 after its
    # session, 9 s, and moves its leaderships to replicas in sync).
    await eventually(
        lambda: in_sync(bootstrap),
        lambda isr: isr and min(isr) == 3,
        within=90.0,
        what="three replicas in sync on every partition",
    )
    cluster.kill(1)
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    read: dict[str, list[int]] = {key: [] for key in KEYS}
    deadline = time.monotonic() + 90.0
    try:
        while sum(map(len, read.values())) < 300 and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=2_000)
            for records in batches.values():
                for record in records:
                    read[record.key.decode()].append(int(record.value))
    finally:
        await consumer.stop()
    assert read == sent  # nothing lost, nothing doubled, each key's order kept
