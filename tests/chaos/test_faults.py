"""The short fault-injection run (`make test`): every process killed once, the bridge
also frozen, with applications withdrawn and supplemented right after submitting (some
while the bridge is down); nothing lost, none left `submitted`.

The long run is `make chaos` (`python -m tests.chaos.run --long`). Both bring up their
own instance on other ports (tests/chaos/instance.py), so this test needs nothing from
the development system and disturbs nothing of it.
"""

import asyncpg
import pytest

from tests.chaos.instance import REPO, Instance
from tests.chaos.run import FAULT_ORDER, PAUSE, Plan, check_instance, run, show

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1500)]


async def test_every_process_killed_once_loses_nothing() -> None:
    plan = Plan.short()
    instance = Instance()
    try:
        report = await run(plan, keep=True, output=REPO / "bench/results/chaos-short.json")
        show(report)
        struck = [(fault.target, fault.signal) for fault in report.faults]
        assert struck == list(plan.targets) * plan.rounds
        # All eleven killed, the tracking agent included, and the bridge frozen too.
        assert plan.targets == FAULT_ORDER
        assert ("workflow-bridge", PAUSE) in plan.targets
        assert report.counts["applications"] == plan.total_applications
        assert report.counts["timeline_events"] > plan.applications * 8
        # Withdrawals and supplements went out, during the bridge's faults too, and all
        # the burst's events were on Kafka before the bridge came back.
        assert report.counts["withdrawals_sent"] >= plan.applications // 10
        assert report.counts["supplements_sent"] >= plan.applications // 10
        bursts = [fault for fault in report.faults if fault.burst]
        assert [fault.target for fault in bursts] == ["workflow-bridge"] * 2 * plan.rounds
        assert all(fault.burst_on_kafka_after is not None for fault in bursts)
        assert report.counts["intake_still_submitted"] == 0
        # Every check ran, and none found anything.
        assert len(report.violations) >= 11
        assert report.violations == {name: [] for name in report.violations}
        assert report.lost == 0

        # The checks see loss and duplication when there is some: remove one recorded
        # event, send one SMS twice, and look again.
        pool = await asyncpg.create_pool(instance.database_url, min_size=0, max_size=2)
        try:
            victim = sorted(report.accepted)[0]
            # As an intruder with the table owner's rights: the table refuses deletes.
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "ALTER TABLE tracking.timeline DISABLE TRIGGER timeline_append_only"
                )
                await conn.execute(
                    "DELETE FROM tracking.timeline WHERE application_code = $1 AND seq ="
                    " (SELECT max(seq) FROM tracking.timeline WHERE application_code = $1)",
                    victim,
                )
                await conn.execute(
                    "ALTER TABLE tracking.timeline ENABLE TRIGGER timeline_append_only"
                )
            await pool.execute(
                "INSERT INTO notify.local_messages (id, idempotency_key, application_code,"
                " channel, recipient_masked, recipient_sealed, body, segments)"
                " SELECT gen_random_uuid(), idempotency_key || '-again', application_code,"
                " channel, recipient_masked, recipient_sealed, body, segments"
                " FROM notify.local_messages WHERE application_code = $1 LIMIT 1",
                victim,
            )
            findings = await check_instance(instance, pool, report)
        finally:
            await pool.close()
        flagged = {name for name, problems in findings.violations.items() if problems}
        assert "no event missing, nothing dead-lettered" in flagged
        assert "every timeline's hash chain is intact" in flagged
        assert "no notification sent twice, none in doubt, none missing" in flagged
    finally:
        instance.down()
