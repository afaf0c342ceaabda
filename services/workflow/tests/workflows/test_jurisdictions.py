"""The matter as published where the application is decided (行政区划): a construction
project decided in Xihu runs on Xihu's shorter committed limit; one decided elsewhere, or
submitted before jurisdictions (no competent region), on the province's."""

from __future__ import annotations

from dataclasses import replace

from temporalio.client import WorkflowHandle

from onceonly.catalogue.testing import CONSTRUCTION_MATERIALS

from .test_joint_approval import application, close, start, wait_for_tasks


async def committed_limit(harness, app) -> tuple[int, WorkflowHandle]:
    """The application's committed limit as its acceptance published it."""
    handle = await start(harness, app)
    await wait_for_tasks(handle, 5)
    (accepted,) = [
        m
        for m in harness.producer.messages("ApplicationAccepted")
        if m.application_code == app.application_code
    ]
    return accepted.clock.committed_days, handle


async def test_a_county_decides_on_its_shorter_limit(harness, application_code, record_history):
    app = replace(
        application(application_code, "construction-joint-approval", CONSTRUCTION_MATERIALS),
        applicant_kind="organisation",
        competent_region="330106",
    )
    days, handle = await committed_limit(harness, app)
    assert days == 20
    await close(handle)
    await record_history(handle, "construction-in-xihu-withdrawn")


async def test_elsewhere_and_before_jurisdictions_the_provinces_limit(
    harness, application_code
) -> None:
    for n, region in enumerate(("330110", "")):
        app = replace(
            application(
                f"{application_code[:-1]}{n}", "construction-joint-approval", CONSTRUCTION_MATERIALS
            ),
            applicant_kind="organisation",
            competent_region=region,
        )
        days, handle = await committed_limit(harness, app)
        assert days == 25
        await close(handle)
