"""The bridge and the department API against the real Temporal dev server, Kafka and
Postgres: each test with its own topics, consumer group and task queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import ConsumerRecord
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.client import Client, WorkflowExecutionStatus

from onceonly.catalogue.testing import CONSTRUCTION_MATERIALS
from onceonly.events.v1 import application_pb2, approval_pb2, envelope_pb2
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import EventConsumer, build_producer, ensure_topics, publish
from onceonly.platform.telemetry import configure_telemetry
from onceonly.platform.testing import TopicReader, eventually
from onceonly.platform.topics import Stream, all_topics, dead_letter_topic, topic_name
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.api import create_app
from onceonly.workflow.api.workflow_client import ApplicationWorkflows
from onceonly.workflow.bridge import Bridge, application_input
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.task_list import PostgresTaskList
from onceonly.workflow.temporal import connect
from onceonly.workflow.worker import build_worker

pytestmark = pytest.mark.integration

MATERIALS = ["transfer-application", "resident-id", "housing-proof", "household-register"]


class System:
    def __init__(self, settings: WorkflowSettings, client: Client, bridge: Bridge) -> None:
        self.settings = settings
        self.client = client
        self.bridge = bridge
        self.started: list[str] = []

    def token(self, department: str, staff: str = "staff-1") -> dict[str, str]:
        token = self.settings.staff_tokens().issue(staff_id=staff, department_code=department)
        return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def system(
    settings: WorkflowSettings, make_real_activities: Callable[..., ApprovalActivities]
) -> AsyncIterator[System]:
    # A real tracer provider (exporting nowhere), so trace context is really propagated.
    configure_telemetry("workflow-tests")
    await ensure_topics(settings.kafka_bootstrap, all_topics(settings.topic_prefix))
    producer = build_producer(settings.kafka_bootstrap, client_id="test-workflow")
    await producer.start()
    client = await connect(settings)
    # The task list the department API reads, written by the publishing activity.
    pool = await create_pool(settings.database_url, max_size=2)
    await prepare_database(pool, component="workflow", package="onceonly.workflow")
    activities = make_real_activities(settings, producer, task_list=PostgresTaskList(pool))
    worker = build_worker(client, task_queue=settings.temporal_task_queue, activities=activities)
    bridge = Bridge(client, task_queue=settings.temporal_task_queue)
    consumer = EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        topics=[
            topic_name(settings.topic_prefix, Stream.SUBMISSIONS),
            topic_name(settings.topic_prefix, Stream.APPLICANT_UPDATES),
        ],
        group_id=f"{settings.topic_prefix}-bridge",
        consumer_name="workflow-bridge",
        dead_letter_topic=dead_letter_topic(settings.topic_prefix, "workflow-bridge"),
        handler=bridge.handle,
        producer=producer,
    )
    await consumer.start()
    running = asyncio.create_task(consumer.run())
    async with worker:
        started = System(settings, client, bridge)
        yield started
        for code in started.started:  # leave no running workflow behind a failed test
            with contextlib.suppress(Exception):
                await client.get_workflow_handle(code).terminate("test over")
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await consumer.stop()
    await producer.stop()
    await pool.close()


def submission(
    code: str, matter: str = "household-transfer"
) -> application_pb2.ApplicationSubmitted:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return application_pb2.ApplicationSubmitted(
        application_code=code,
        matter_code=matter,
        integrator_id="portal",
        applicant=application_pb2.Applicant(kind=application_pb2.APPLICANT_KIND_PERSON),
        contact=application_pb2.Contact(
            mobile=application_pb2.SealedText(sealed="k:x", masked="1381234****"),
            channels=["sms"],
        ),
        materials=[application_pb2.Material(code=m, reference=f"doc://{m}") for m in MATERIALS],
        submitted_at=stamp,
    )


async def read_events(settings: WorkflowSettings, code: str, count: int) -> list[Envelope]:
    """The approval events of `code`, once at least `count` have been published."""

    def of_code(records: list[ConsumerRecord]) -> list[Envelope]:
        envelopes = (Envelope.from_kafka(r.headers, r.value) for r in records)
        return [envelope for envelope in envelopes if envelope.subject == code]

    topic = topic_name(settings.topic_prefix, Stream.APPROVAL_EVENTS)
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.until(
            lambda found: len(of_code(found)) >= count,
            within=30,
            what=f"{count} approval events of {code}",
        )
    return of_code(records)


def code() -> str:
    return f"330100-20261123-{uuid.uuid4().int % 10**6:06d}X"


async def test_redelivered_submission_starts_one_workflow(system: System) -> None:
    application_code = code()
    producer = build_producer(system.settings.kafka_bootstrap, client_id="test-submitter")
    await producer.start()
    topic = topic_name(system.settings.topic_prefix, Stream.SUBMISSIONS)
    envelope = new_envelope(
        submission(application_code), source="/test", application_code=application_code
    )
    try:
        await publish(producer, topic, envelope)
        await publish(producer, topic, envelope)  # redelivery of the same event
    finally:
        await producer.stop()

    handle = system.client.get_workflow_handle(application_code)

    async def both_seen() -> bool:
        return system.bridge.started + system.bridge.duplicates >= 2

    await eventually(both_seen, what="the bridge to see both deliveries")
    assert system.bridge.started == 1
    assert system.bridge.duplicates == 1
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    runs = [w async for w in system.client.list_workflows(f"WorkflowId = '{application_code}'")]
    assert len(runs) == 1
    await handle.terminate("test over")


async def test_another_submission_under_a_used_code_is_dead_lettered(system: System) -> None:
    application_code = code()
    producer = build_producer(system.settings.kafka_bootstrap, client_id="test-submitter")
    await producer.start()
    topic = topic_name(system.settings.topic_prefix, Stream.SUBMISSIONS)
    first = new_envelope(
        submission(application_code), source="/test", application_code=application_code
    )
    await asyncio.sleep(0.01)  # a later submission instant
    second = new_envelope(
        submission(application_code), source="/test", application_code=application_code
    )
    try:
        await publish(producer, topic, first)
        await publish(producer, topic, second)
    finally:
        await producer.stop()

    async def conflict_seen() -> bool:
        return system.bridge.conflicts >= 1

    await eventually(conflict_seen, what="the bridge to refuse the second submission")
    assert system.bridge.duplicates == 0
    dlq = dead_letter_topic(system.settings.topic_prefix, "workflow-bridge")
    async with TopicReader(system.settings.kafka_bootstrap, dlq) as reader:
        parked = await reader.until(
            lambda found: any(r.key == application_code.encode() for r in found),
            within=30,
            what="the parked submission",
        )
    letter = next(
        envelope_pb2.DeadLetter.FromString(r.value)
        for r in parked
        if r.key == application_code.encode()
    )
    assert "already belongs" in letter.reason
    runs = [w async for w in system.client.list_workflows(f"WorkflowId = '{application_code}'")]
    assert len(runs) == 1
    await system.client.get_workflow_handle(application_code).terminate("test over")


async def test_department_decides_through_the_api(system: System) -> None:
    application_code = code()
    await system.client.start_workflow(
        "JointApproval",
        application_input(submission(application_code)),
        id=application_code,
        task_queue=system.settings.temporal_task_queue,
    )
    system.started.append(application_code)
    app = create_app(system.settings, client=system.client)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://workflow") as http,
    ):
        path = f"/v1/applications/{application_code}/tasks/public-security/decision"

        async def task_listed() -> bool:
            answer = await http.get("/v1/tasks", headers=system.token("public-security"))
            assert answer.status_code == 200
            return any(t["application_code"] == application_code for t in answer.json())

        await eventually(task_listed, what="the task in the department's list")
        listed = await http.get("/v1/tasks", headers=system.token("public-security"))
        task = next(t for t in listed.json() if t["application_code"] == application_code)
        # Household transfer: 10 natural days from today, moved off a non-working day.
        cst = timezone(timedelta(hours=8))
        due = datetime.fromisoformat(task["due_at"]).astimezone(cst).date()
        assert task["days_left"] == (due - datetime.now(cst).date()).days
        assert 10 <= task["days_left"] <= 13

        unauthenticated = await http.post(path, json={"outcome": "approved"})
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["content-type"].startswith("application/problem+json")

        # Another department's task: not found, as an unknown application (issue 15).
        wrong = await http.post(path, json={"outcome": "approved"}, headers=system.token("tax"))
        assert wrong.status_code == 404
        assert wrong.json()["title"] == "Application not found"

        other = await http.get("/v1/tasks", headers=system.token("tax"))
        assert all(t["application_code"] != application_code for t in other.json())

        # The list narrowed and in pages of one, following the Link header.
        reviewer = system.token("public-security")

        async def codes(**params: object) -> list[str]:
            answer = await http.get("/v1/tasks", params=params, headers=reviewer)
            assert answer.status_code == 200, answer.text
            return [t["application_code"] for t in answer.json()]

        assert application_code in await codes(matter="household-transfer", level="none")
        assert application_code not in await codes(matter="birth-of-child")
        assert application_code not in await codes(mine=True)  # nobody has claimed it
        paged: list[str] = []
        url: str | None = "/v1/tasks?limit=1"
        while url is not None:
            answer = await http.get(url, headers=reviewer)
            assert answer.status_code == 200 and len(answer.json()) <= 1
            paged += [t["application_code"] for t in answer.json()]
            link = answer.headers.get("link")
            url = link[1 : link.index(">")] if link else None
        assert paged == await codes() and application_code in paged
        refused = await http.get("/v1/tasks?cursor=@@", headers=reviewer)
        assert refused.status_code == 422

        bad = await http.post(
            path, json={"outcome": "maybe"}, headers=system.token("public-security")
        )
        assert bad.status_code == 422

        ok = await http.post(
            path, json={"outcome": "approved"}, headers=system.token("public-security", "ps-7")
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["task_state"] == "approved"

        events = await read_events(system.settings, application_code, 4)
        kinds = [e.type.rsplit(".", 1)[-1] for e in events]
        assert kinds == [
            "ApplicationAccepted",
            "TaskStarted",
            "TaskDecided",
            "ApplicationCompleted",
        ]
        decided = events[2].message()
        assert isinstance(decided, approval_pb2.TaskDecided)
        assert decided.actor.id == "ps-7"
        assert decided.actor.department_code == "public-security"
        assert all(e.traceparent for e in events)

        again = await http.post(
            path, json={"outcome": "approved"}, headers=system.token("public-security")
        )
        assert again.status_code == 409
        missing = await http.post(
            "/v1/applications/330100-20990101-0000001/tasks/public-security/decision",
            json={"outcome": "approved"},
            headers=system.token("public-security"),
        )
        assert missing.status_code == 404


async def test_claim_and_special_procedure_through_the_api(system: System) -> None:
    application_code = code()
    system.started.append(application_code)
    await system.client.start_workflow(
        "JointApproval",
        application_input(submission(application_code)),
        id=application_code,
        task_queue=system.settings.temporal_task_queue,
    )
    app = create_app(system.settings, client=system.client)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://workflow") as http,
    ):
        base = f"/v1/applications/{application_code}/tasks/public-security"
        me = system.token("public-security", "ps-1")
        colleague = system.token("public-security", "ps-2")

        async def claimed() -> dict | None:
            answer = await http.post(f"{base}/assignment", json={}, headers=me)
            return answer.json() if answer.status_code == 200 else None

        claim = await eventually(claimed, what="the claim to be accepted")
        assert claim["assignee"] == "ps-1"

        taken = await http.post(f"{base}/assignment", json={"assignee": "ps-2"}, headers=colleague)
        assert taken.status_code == 403
        assert taken.json()["title"] == "WrongReviewer"

        started = await http.post(
            f"{base}/special-procedure",
            json={"kind": "expert_review", "note": "专家评审"},
            headers=me,
        )
        assert started.status_code == 200, started.text
        assert started.json()["paused"] is True
        blocked = await http.post(f"{base}/decision", json={"outcome": "approved"}, headers=me)
        assert blocked.status_code == 409
        assert blocked.json()["title"] == "SpecialProcedure"
        unknown = await http.post(f"{base}/special-procedure", json={"kind": "séance"}, headers=me)
        assert unknown.status_code == 422

        ended = await http.post(f"{base}/special-procedure/end", json={}, headers=me)
        assert ended.status_code == 200
        assert ended.json()["paused"] is False
        approved = await http.post(f"{base}/decision", json={"outcome": "approved"}, headers=me)
        assert approved.status_code == 200

        events = await read_events(system.settings, application_code, 7)
        kinds = [e.type.rsplit(".", 1)[-1] for e in events]
        assert kinds[-5:] == [
            "TaskAssigned",
            "SpecialProcedureStarted",
            "SpecialProcedureEnded",
            "TaskDecided",
            "ApplicationCompleted",
        ]


async def test_lead_department_and_extension_operations_through_the_api(system: System) -> None:
    application_code = code()
    system.started.append(application_code)
    app_input = application_input(submission(application_code, "construction-joint-approval"))
    app_input.materials = list(CONSTRUCTION_MATERIALS)
    await system.client.start_workflow(
        "JointApproval",
        app_input,
        id=application_code,
        task_queue=system.settings.temporal_task_queue,
    )
    tokens = system.settings.staff_tokens()

    def as_staff(department: str, *roles: str) -> dict[str, str]:
        token = tokens.issue(
            staff_id=f"{department}-{'-'.join(roles) or 'reviewer'}",
            department_code=department,
            roles=roles or ("reviewer",),
        )
        return {"Authorization": f"Bearer {token}"}

    app = create_app(system.settings, client=system.client)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://workflow") as http,
    ):
        tasks = f"/v1/applications/{application_code}/tasks"
        fire, lead = as_staff("fire"), as_staff("natural-resources")

        async def asked() -> dict | None:
            answer = await http.post(
                f"{tasks}/fire/extension", json={"days": 10, "reason": "专家论证"}, headers=fire
            )
            return answer.json() if answer.status_code == 200 else None

        await eventually(asked, what="the extension request to be accepted")
        too_long = await http.post(
            f"{tasks}/civil-air-defence/extension",
            json={"days": 16, "reason": "r"},
            headers=as_staff("civil-air-defence"),
        )
        assert too_long.status_code == 422, too_long.text
        listed = await http.get("/v1/tasks", headers=fire)
        assert [t["pending_extension_days"] for t in listed.json()] == [10]
        by_reviewer = await http.post(
            f"{tasks}/fire/extension/decision", json={"approved": True}, headers=fire
        )
        assert by_reviewer.status_code == 403
        assert by_reviewer.json()["title"] == "WrongReviewer"
        approved = await http.post(
            f"{tasks}/fire/extension/decision",
            json={"approved": True, "note": "同意"},
            headers=as_staff("fire", "department_head"),
        )
        assert approved.status_code == 200, approved.text
        listed = await http.get("/v1/tasks", headers=fire)
        assert [t["extended_days"] for t in listed.json()] == [10]

        decided = await http.post(
            f"{tasks}/fire/decision", json={"outcome": "approved"}, headers=fire
        )
        assert decided.status_code == 200
        not_lead = await http.post(f"{tasks}/fire/return", json={"reason": "r"}, headers=fire)
        assert not_lead.status_code == 403
        assert not_lead.json()["title"] == "NotLeadDepartment"
        returned = await http.post(
            f"{tasks}/fire/return", json={"reason": "消防通道不足"}, headers=lead
        )
        assert returned.status_code == 200, returned.text
        assert returned.json()["task_state"] == "open"

        departments = f"/v1/applications/{application_code}/departments"
        added = await http.post(
            departments,
            json={
                "department_code": "market-regulation",
                "reason": "经营许可",
                "committed_days": 3,
            },
            headers=lead,
        )
        assert added.status_code == 200, added.text
        again = await http.post(
            departments,
            json={"department_code": "market-regulation", "reason": "again"},
            headers=lead,
        )
        assert again.status_code == 409
        assert again.json()["title"] == "TaskExists"
        unknown = await http.post(
            departments, json={"department_code": "no-such-body", "reason": "r"}, headers=lead
        )
        assert unknown.status_code == 422
        removed = await http.post(
            f"{tasks}/civil-air-defence/removal", json={"reason": "无人防工程"}, headers=lead
        )
        assert removed.status_code == 200, removed.text
        assert removed.json()["task_state"] == "cancelled"

        events = await read_events(system.settings, application_code, 12)
        kinds = [e.type.rsplit(".", 1)[-1] for e in events]
        for kind in (
            "ExtensionRequested",
            "ExtensionDecided",
            "TaskReturned",
            "DepartmentAdded",
            "DepartmentRemoved",
        ):
            assert kinds.count(kind) == 1, kinds


async def test_every_not_yours_is_the_same_404(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown application, an application without a task of the caller's department,
    another department's task: one answer, byte for byte but for the request's own path,
    after one description by the Temporal server and no query or Update (issue 15,
    item 10). The lead department still reads every department's task."""
    household, construction = code(), code()
    system.started += [household, construction]
    await system.client.start_workflow(
        "JointApproval",
        application_input(submission(household)),
        id=household,
        task_queue=system.settings.temporal_task_queue,
    )
    joint = application_input(submission(construction, "construction-joint-approval"))
    joint.materials = list(CONSTRUCTION_MATERIALS)
    await system.client.start_workflow(
        "JointApproval", joint, id=construction, task_queue=system.settings.temporal_task_queue
    )
    police, tax = system.token("public-security"), system.token("tax")
    fire, air = system.token("fire"), system.token("civil-air-defence")
    lead = system.token("natural-resources")
    unknown = "330100-20990101-0000001"
    calls: list[str] = []
    for name in ("reach", "snapshot", "update"):
        original = getattr(ApplicationWorkflows, name)

        def spy(
            self: ApplicationWorkflows,
            *args: Any,
            _name: str = name,
            _original: Callable[..., Any] = original,
            **kwargs: Any,
        ) -> Any:
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(ApplicationWorkflows, name, spy)

    app = create_app(system.settings, client=system.client)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://workflow") as http,
    ):

        async def started(code: str, headers: dict[str, str]) -> dict | None:
            answer = await http.get(f"/v1/applications/{code}", headers=headers)
            return answer.json() if answer.status_code == 200 and answer.json()["tasks"] else None

        await eventually(lambda: started(household, police), what="the household task")
        seen_by_lead = await eventually(
            lambda: started(construction, lead), what="the construction tasks"
        )
        # The lead department reads every department's task (its opinion included).
        assert {t["department_code"] for t in seen_by_lead["tasks"]} == {
            "development-reform",
            "natural-resources",
            "housing-construction",
            "fire",
            "civil-air-defence",
        }
        assert seen_by_lead["lead_department"] == "natural-resources"
        assert (await http.get(f"/v1/applications/{construction}", headers=fire)).status_code == 200

        approve = {"outcome": "approved"}
        not_yours: dict[str, tuple[str, str, dict[str, str], dict[str, object] | None]] = {
            "unknown application, read": ("GET", f"/v1/applications/{unknown}", police, None),
            "unknown application, decision": (
                "POST",
                f"/v1/applications/{unknown}/tasks/public-security/decision",
                police,
                approve,
            ),
            "no task of mine, read": ("GET", f"/v1/applications/{household}", tax, None),
            "no task of mine, decision": (
                "POST",
                f"/v1/applications/{household}/tasks/tax/decision",
                tax,
                approve,
            ),
            "no task of mine, another's task": (
                "POST",
                f"/v1/applications/{household}/tasks/public-security/decision",
                tax,
                approve,
            ),
            "no task of mine, a lead's removal": (
                "POST",
                f"/v1/applications/{household}/tasks/public-security/removal",
                tax,
                {"reason": "r"},
            ),
            "another department's task": (
                "POST",
                f"/v1/applications/{construction}/tasks/civil-air-defence/decision",
                fire,
                approve,
            ),
            "another department's task, claimed": (
                "POST",
                f"/v1/applications/{construction}/tasks/fire/assignment",
                air,
                {},
            ),
            "another department's task, a lead's return by another": (
                "POST",
                f"/v1/applications/{construction}/tasks/fire/return",
                air,
                {"reason": "r"},
            ),
        }

        async def ask(case: str) -> tuple[int, str, bytes]:
            method, path, headers, body = not_yours[case]
            calls.clear()
            answer = await http.request(method, path, headers=headers, json=body)
            # Only the Temporal server's description was asked for: not the worker.
            assert calls == ["reach"], (case, calls)
            return (
                answer.status_code,
                answer.headers["content-type"],
                answer.content.replace(path.encode(), b"PATH"),
            )

        answers = {case: await ask(case) for case in not_yours}
        first = answers["unknown application, decision"]
        assert first[0] == 404 and first[1].startswith("application/problem+json")
        assert b"PATH" in first[2] and household.encode() not in first[2]
        different = {case: got for case, got in answers.items() if got != first}
        assert not different, different

        # A closed application: still not found for a department without a task, and
        # closed (409) for the department that had one.
        decided = await http.post(
            f"/v1/applications/{household}/tasks/public-security/decision",
            json=approve,
            headers=police,
        )
        assert decided.status_code == 200, decided.text

        async def closed() -> bool:
            described = await system.client.get_workflow_handle(household).describe()
            return described.status != WorkflowExecutionStatus.RUNNING

        await eventually(closed, what="the household application to close")
        for case in ("no task of mine, read", "no task of mine, decision"):
            assert await ask(case) == first, case
        again = await http.post(
            f"/v1/applications/{household}/tasks/public-security/decision",
            json=approve,
            headers=police,
        )
        assert again.status_code == 409
        assert again.json()["title"] == "ApplicationClosed"


async def _started(system: System, matter: str, materials: list[str]) -> str:
    application_code = code()
    system.started.append(application_code)
    app_input = application_input(submission(application_code, matter))
    app_input.materials = materials
    await system.client.start_workflow(
        "JointApproval",
        app_input,
        id=application_code,
        task_queue=system.settings.temporal_task_queue,
    )
    return application_code


def _as_staff(system: System, department: str, *roles: str) -> dict[str, str]:
    token = system.settings.staff_tokens().issue(
        staff_id=f"{department}-{'-'.join(roles)}",
        department_code=department,
        roles=roles,
    )
    return {"Authorization": f"Bearer {token}"}


async def test_window_review_and_joint_inspection_through_the_api(system: System) -> None:
    """受理审查 and 不予受理决定 on the food business licence; 联合踏勘 on a construction
    joint approval, through the department API on the dev server."""
    food = ["food-licence-application", "premises-layout", "food-safety-rules"]
    refused_code = await _started(system, "food-business-licence", food)
    accepted_code = await _started(system, "food-business-licence", food)
    construction = await _started(
        system, "construction-joint-approval", list(CONSTRUCTION_MATERIALS)
    )
    window = _as_staff(system, "service-centre", "window")
    reviewer = _as_staff(system, "market-regulation", "reviewer")
    lead = _as_staff(system, "natural-resources", "reviewer")
    app = create_app(system.settings, client=system.client)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://workflow") as http,
    ):
        refusal = {
            "decision": "refuse",
            "reason": "经营场所不在本辖区",
            "legal_basis": "《食品经营许可和备案管理办法》第十五条",
        }
        url = f"/v1/applications/{refused_code}/acceptance"
        # Not the window's staff: the one "not yours" answer, as for an unknown code.
        not_window = await http.post(url, json=refusal, headers=reviewer)
        assert not_window.status_code == 404, not_window.text
        no_basis = await http.post(url, json={**refusal, "legal_basis": ""}, headers=window)
        assert no_basis.status_code == 422, no_basis.text
        refused = await http.post(url, json=refusal, headers=window)
        assert refused.status_code == 200, refused.text
        assert refused.json() == {
            "application_code": refused_code,
            "accepted": False,
            "decision_number": f"BYSL-{refused_code}",
        }
        again = await http.post(url, json={"decision": "accept"}, headers=window)
        assert again.status_code == 409, again.text

        accepted = await http.post(
            f"/v1/applications/{accepted_code}/acceptance",
            json={"decision": "accept"},
            headers=window,
        )
        assert accepted.status_code == 200, accepted.text

        async def listed() -> bool:
            tasks = (await http.get("/v1/tasks", headers=reviewer)).json()
            return any(t["application_code"] == accepted_code for t in tasks)

        await eventually(listed, what="the accepted application's task")

        inspections = f"/v1/applications/{construction}/inspections"
        body = {"department_codes": ["fire", "housing-construction"], "note": "工地, 12月8日"}
        fire = _as_staff(system, "fire", "reviewer")

        async def called() -> httpx.Response | None:
            answer = await http.post(inspections, json=body, headers=lead)
            return answer if answer.status_code == 200 else None

        started = await eventually(called, what="the joint inspection")
        assert started.json()["department_codes"] == ["fire", "housing-construction"]
        not_lead = await http.post(inspections, json=body, headers=fire)
        assert not_lead.status_code == 403, not_lead.text
        tasks = f"/v1/applications/{construction}/tasks"
        no_finding = await http.post(
            f"{tasks}/fire/special-procedure/end",
            json={"kind": "on_site_inspection", "note": ""},
            headers=fire,
        )
        assert no_finding.status_code == 422, no_finding.text
        found = await http.post(
            f"{tasks}/fire/special-procedure/end",
            json={"kind": "on_site_inspection", "note": "消防通道符合设计"},
            headers=fire,
        )
        assert found.status_code == 200, found.text

    [refusal_event] = [
        e
        for e in await read_events(system.settings, refused_code, 1)
        if e.type.endswith("ApplicationAccepted")
    ]
    message = approval_pb2.ApplicationAccepted.FromString(refusal_event.data)
    assert message.outcome == approval_pb2.ACCEPTANCE_OUTCOME_REFUSED
    assert message.decision_number == f"BYSL-{refused_code}"
    events = await read_events(system.settings, construction, 8)
    kinds = [e.type.rsplit(".", 1)[-1] for e in events]
    assert kinds.count("SpecialProcedureStarted") == 2 and "SpecialProcedureEnded" in kinds


async def test_departments_see_the_agent_masked_and_the_lookups(system: System) -> None:
    """帮代办 and 授权与数据来源 on the department API's application view."""
    application_code = code()
    submitted = submission(application_code)
    submitted.agent.CopyFrom(
        application_pb2.Agent(
            name=application_pb2.SealedText(sealed="k:agent-name", masked="李**"),
            identifier=application_pb2.SealedText(sealed="k:agent-id", masked="1101**************"),
            mobile=application_pb2.SealedText(sealed="k:agent-mobile", masked="1391234****"),
            relation="service_centre",
            organisation="西湖区政务服务中心",
            authorisation=application_pb2.Authorisation(
                scope=["submit", "supplement"],
                valid_from="2026-12-01",
                valid_until="2026-12-31",
                given_by="recorded_consent",
                consent_reference="kiosk-9",
            ),
        )
    )
    submitted.consents.append(application_pb2.Consent(purpose="population", reference="c-9"))
    await system.client.start_workflow(
        "JointApproval",
        application_input(submitted),
        id=application_code,
        task_queue=system.settings.temporal_task_queue,
    )
    system.started.append(application_code)
    app = create_app(system.settings, client=system.client)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://workflow") as http,
    ):

        async def view() -> dict[str, Any]:
            answer = await http.get(
                f"/v1/applications/{application_code}", headers=system.token("public-security")
            )
            return dict(answer.json()) if answer.status_code == 200 else {}

        body = await eventually(view, lambda b: bool(b.get("tasks")), what="the started tasks")
    assert body["agent"]["name_masked"] == "李**"
    assert body["agent"]["scope"] == ["submit", "supplement"]
    assert body["agent"]["given_by"] == "recorded_consent"
    assert "k:agent" not in json.dumps(body)
    # Only the consented check ran, with its provenance; the other was not run.
    assert [c["check"] for c in body["checks"]] == ["population"]
    assert body["checks"][0]["registry"] == "population"
    assert body["checks"][0]["consent_reference"] == "c-9"
    assert body["checks"][0]["checked_at"]
    assert body["checks_without_consent"] == ["real-estate"]
