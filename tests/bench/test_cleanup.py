"""The drain-and-clean step's pure parts, and the scratch intake's environment."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus

from bench.cleanup import add_up, tally
from bench.monitor import memory_per_process
from bench.scratch_intake import database_in, scratch_environment


def test_tally_sorts_the_runs_applications_by_their_workflows_status() -> None:
    statuses = {
        "a": WorkflowExecutionStatus.COMPLETED,
        "b": WorkflowExecutionStatus.RUNNING,
        "c": WorkflowExecutionStatus.TERMINATED,
        "other": WorkflowExecutionStatus.RUNNING,  # not of this run
    }
    found = tally(["a", "b", "c", "d"], statuses)
    assert found.closed == {"a", "c"}
    assert found.running == {"b"}
    assert found.not_started == {"d"}
    assert not found.settled
    assert tally(["a"], statuses).settled


def test_add_up_sums_the_cleanups_after_each_benchmark() -> None:
    total = add_up(
        [
            {"waited_s": 10.04, "completed": 5, "terminated": 1, "quiet": True},
            {"waited_s": 2.0, "completed": 3, "terminated": 0, "not_started": 2},
            {"error": "RPCError: unavailable"},
        ]
    )
    assert total == {"waited_s": 12.0, "completed": 8, "terminated": 1, "not_started": 2}
    assert add_up([]) == {"waited_s": 0.0, "completed": 0, "terminated": 0}


def test_memory_per_process_in_mib_with_gaps_as_none() -> None:
    found = memory_per_process({"postgres": 2048, "bench-intake-api": 1024}, {"postgres": 4096})
    assert found == {
        "bench-intake-api": {"at_rest": 1.0, "peak": None},
        "postgres": {"at_rest": 2.0, "peak": 4.0},
    }


def test_scratch_database_url_keeps_credentials_and_options() -> None:
    url = "postgresql://onceonly:pw@127.0.0.1:5432/onceonly?sslmode=disable"
    assert database_in(url, "bench1_intake") == (
        "postgresql://onceonly:pw@127.0.0.1:5432/bench1_intake?sslmode=disable"
    )
    assert database_in("postgresql://u@h/db", "x") == "postgresql://u@h/x"


def test_scratch_environment_overrides_what_the_running_intake_uses() -> None:
    running = {
        "ONCEONLY_DATABASE_URL": "postgresql://u@h/onceonly",
        "ONCEONLY_TOPIC_PREFIX": "onceonly",
        "ONCEONLY_INTAKE_PORT": "8000",
        "ONCEONLY_RELAY_METRICS_PORT": "8101",
        "PATH": "/usr/bin",
    }
    env = scratch_environment(
        running, database_url="postgresql://u@h/b_intake", topic_prefix="b-intake", port=41000
    )
    assert env["ONCEONLY_DATABASE_URL"] == "postgresql://u@h/b_intake"
    assert env["ONCEONLY_TOPIC_PREFIX"] == "b-intake"
    assert env["ONCEONLY_INTAKE_PORT"] == "41000"
    assert env["ONCEONLY_RELAY_METRICS_PORT"] == "0"
    assert env["ONCEONLY_ENVIRONMENT"] == "development"
    assert env["PATH"] == "/usr/bin"
    assert running["ONCEONLY_INTAKE_PORT"] == "8000"  # the caller's left as it was
