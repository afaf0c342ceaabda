"""Every process replicated on a Kafka cluster (issue 20): two of each process, one replica
killed at a time under load, the bridge's also frozen, then each of three brokers killed in
turn (replication factor 3, min.insync.replicas 2); nothing lost, nothing done twice, each
application's events in order, the figures equal to the reference
(tests/chaos/invariants.py), and every replica did its share.

`python -m tests.chaos.run --replicated [--long]` runs the same outside pytest.
"""

import asyncpg
import httpx
import pytest

from onceonly.platform.auth import StaffApi, StaffTokens
from tests.chaos.instance import REPO, Instance
from tests.chaos.invariants import kafka_read
from tests.chaos.run import (
    KILL,
    PAUSE,
    Plan,
    chaos_settings,
    check_instance,
    run,
    show,
    topic_layout,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1500)]


async def test_one_replica_of_each_process_killed_loses_nothing() -> None:
    plan = Plan.replicated()
    instance = Instance(replicas=plan.replicas, kafka_nodes=plan.kafka_nodes)
    try:
        report = await run(plan, keep=True, output=REPO / "bench/results/chaos-replicated.json")
        show(report)
        assert [(fault.target, fault.signal) for fault in report.faults] == list(plan.targets)
        # One replica of every process struck, first and second replicas both; then
        # every broker, one at a time.
        brokers = [f.target for f in report.faults if f.target.startswith("kafka-")]
        processes = [f.target for f in report.faults if not f.target.startswith("kafka-")]
        assert brokers == ["kafka-1", "kafka-2", "kafka-3"]
        assert {t.removesuffix("-2") for t in processes} == {
            name.removesuffix("-2") for name in instance.processes
        }
        assert {t.endswith("-2") for t in processes} == {True, False}
        assert ("workflow-bridge", PAUSE) in plan.targets and KILL in dict(plan.targets).values()
        assert report.counts["applications"] == plan.total_applications
        assert report.counts["timeline_events"] > plan.applications * 8
        assert report.counts["intake_still_submitted"] == 0
        assert all(fault.healthy_after is not None for fault in report.faults)
        # Each broker was killed only once the one before it had caught up.
        assert all(
            fault.in_sync_after is not None
            for fault in report.faults
            if fault.target.startswith("kafka-")
        )
        assert len(report.violations) >= 11
        assert report.violations == {name: [] for name in report.violations}
        assert report.lost == 0
        # Every topic of the instance has three replicas, and every replica is back in
        # sync after its broker's restart.
        layout = await kafka_read(
            lambda: topic_layout(instance.kafka_bootstrap, instance.topic_prefix)
        )
        assert len(layout) >= 8
        assert {replicas for replicas, _ in layout.values()} == {3}
        assert {in_sync for _, in_sync in layout.values()} == {3}
        # The relays kept each application's order: its withdrawal or supplement went
        # out after its submission, whichever relay published which.
        assert report.counts["outbox_pairs_in_order"] >= plan.applications // 10

        # Both replicas of each API served the traffic, and both of each consumer
        # handled records (not one idle twin beside one doing everything).
        work = {
            k.removeprefix("work_"): v for k, v in report.counts.items() if k.startswith("work_")
        }
        assert set(work) >= {f"{p}{r}" for p in ("workflow-worker", "notify") for r in ("", "-2")}
        idle = [name for name, done in work.items() if done == 0]
        assert not idle, f"replicas that did nothing: {idle} ({work})"
        # The tracking API's replicas answer alike (the checks read the first's).
        tokens = StaffTokens.from_settings(chaos_settings(), StaffApi.TRACKING)
        token = tokens.issue(
            staff_id="chaos-sup", department_code="supervision-office", roles=("supervision",)
        )
        code = sorted(report.accepted)[-1]
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            answers = [
                (await http.get(f"{url}/v1/applications/{code}/status")).json()
                for url in instance.urls("tracking")
            ]
        assert len(answers) == 2 and answers[0] == answers[1] and answers[0]["status"]

        # The order check sees an update published before its submission: make intake's
        # outbox say that one update was written first, and look again. An update the
        # relay published in a later batch than its submission (`published_at` is the
        # batch's `now()`), so that their Kafka timestamps differ: one sent in the same
        # batch may carry the same millisecond, and no order can be read from that (a
        # fresh-clone CI picked such a pair once the relay got faster).
        pool = await asyncpg.create_pool(instance.database_url, min_size=0, max_size=2)
        try:
            moved = await pool.execute(
                "UPDATE intake.outbox SET id = -id WHERE id = (SELECT max(u.id)"
                " FROM intake.outbox u JOIN intake.outbox s ON s.message_key = u.message_key"
                " AND s.topic LIKE '%submissions%'"
                " WHERE u.topic LIKE '%applicant-updates%' AND u.published_at > s.published_at)"
            )
            assert moved == "UPDATE 1", moved
            findings = await check_instance(instance, pool, report)
        finally:
            await pool.close()
        flagged = {name for name, problems in findings.violations.items() if problems}
        assert flagged == {"each application's events on Kafka in the order intake wrote them"}
    finally:
        instance.down()
