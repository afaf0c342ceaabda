"""Two checkouts on one machine share one PostgreSQL cluster (its data directory lies
outside them): `down` in the checkout that did not start it leaves it running for the
one that did, whose `down` stops it. Real infra.sh, real PostgreSQL, on a port and data
directory of the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from onceonly.platform.testing import free_ports

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def checkout(root: Path, name: str) -> Path:
    """A copy of the bring-up scripts: infra.sh takes its checkout from its own path."""
    copy = root / name
    shutil.copytree(REPO / "deploy" / "local", copy / "deploy" / "local")
    return copy


def accepting(port: int) -> bool:
    ready = subprocess.run(
        [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)], check=False
    )
    return ready.returncode == 0


def test_down_stops_the_shared_cluster_only_where_it_was_started(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not (PG_BIN / "postgres").exists():
        pytest.skip("needs root and PostgreSQL 15, as deploy/local/infra.sh does")
    port, kafka_port, temporal_port = free_ports(3)
    data = Path(f"/var/lib/postgresql/15/test-shared-{uuid.uuid4().hex[:8]}")
    env = {
        **os.environ,
        "ONCEONLY_POSTGRES_PORT": str(port),
        "ONCEONLY_POSTGRES_DATA_DIR": str(data),
        # Nothing of either checkout's Kafka or Temporal runs; never the shared system's.
        "ONCEONLY_KAFKA_PORT": str(kafka_port),
        "ONCEONLY_TEMPORAL_PORT": str(temporal_port),
    }
    first, second = checkout(tmp_path, "first"), checkout(tmp_path, "second")

    def infra(where: Path, *args: str) -> str:
        done = subprocess.run(
            [str(where / "deploy/local/infra.sh"), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        infra(first, "start", "postgres")
        assert "already running" in infra(second, "start", "postgres")
        assert "left running, started by" in infra(second, "down")
        assert accepting(port)
        infra(first, "down")
        assert not accepting(port)
    finally:
        subprocess.run(
            [str(PG_BIN / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate"],
            user="postgres",
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)
        Path(f"{data}.started-by").unlink(missing_ok=True)
