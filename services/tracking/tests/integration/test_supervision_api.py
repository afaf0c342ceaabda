"""The supervision endpoints: figures, open alerts and the dashboard page."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from onceonly.events.v1 import supervision_pb2, workorder_pb2
from onceonly.platform.auth import DEPARTMENT_ROLES, StaffApi, issue_staff_token
from onceonly.platform.envelope import new_envelope
from onceonly.platform.secrets import KeyRing
from onceonly.tracking.api import create_app
from onceonly.tracking.settings import TrackingSettings

pytestmark = pytest.mark.integration

KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = TrackingSettings(
        environment="development", database_url=database_url, tracking_api_token_keys=KEYS
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
            yield client


def bearer(*roles: str) -> dict[str, str]:
    """A tracking token: of the supervision office, or of tax for a department's roles."""
    department = "tax" if set(roles) & set(DEPARTMENT_ROLES) else "supervision"
    token = issue_staff_token(
        KeyRing.parse(KEYS, setting="test"),
        api=StaffApi.TRACKING,
        staff_id="s-1",
        department_code=department,
        roles=roles,
    )
    return {"Authorization": f"Bearer {token}"}


async def record(store, code: str, messages, start: datetime) -> None:
    for offset, message in enumerate(messages):
        envelope = new_envelope(
            message,
            source="/onceonly/test",
            application_code=code,
            time=start + timedelta(minutes=offset),
        )
        assert await store.append(envelope, topic="t", partition=0, offset=offset)


async def test_figures_per_matter_and_department(client, store, month) -> None:
    for entry in month.recorded:
        await record(store, entry.application_code, [entry.message], entry.time)
    query = {"from": "2030-06-01T00:00:00Z", "to": "2030-07-01T00:00:00Z"}
    response = await client.get(
        "/v1/supervision/figures",
        params={**query, "group_by": "matter"},
        headers=bearer("supervision"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"].startswith("2030-06-01T00:00:00")
    [matter] = [g for g in body["groups"] if g["group"] == month.matter]
    assert (matter["received"], matter["completed"], matter["on_time"]) == (30, 15, 11)
    assert matter["ratings"] == {"4": 5, "5": 6}
    assert (matter["average_days"], matter["p90_days"]) == (5.4, 12.0)

    response = await client.get(
        "/v1/supervision/figures", params=query, headers=bearer("operations")
    )
    groups = {g["group"]: g for g in response.json()["groups"]}
    assert groups[month.department_b]["completed"] == 11
    assert groups[month.department_a]["open_red"] == 6


async def test_figures_need_a_supervision_role_and_a_period(client) -> None:
    query = {"from": "2030-06-01", "to": "2030-07-01"}
    reviewer = await client.get("/v1/supervision/figures", params=query, headers=bearer("reviewer"))
    assert reviewer.status_code == 403
    backwards = {"from": "2030-07-01", "to": "2030-06-01"}
    response = await client.get(
        "/v1/supervision/figures", params=backwards, headers=bearer("supervision")
    )
    assert response.status_code == 422
    response = await client.get(
        "/v1/supervision/figures",
        params={**query, "group_by": "nonsense"},
        headers=bearer("supervision"),
    )
    assert response.status_code == 422
    assert (await client.get("/v1/supervision/figures", params=query)).status_code == 401


async def test_open_alerts_until_the_decision(client, store, events) -> None:
    now = datetime.now(UTC)
    red_code, yellow_code = events.code(), events.code()
    started = [events.submitted, events.accepted, events.task_started]
    red = events.alert(red_code, level=3, seconds_left=-2 * 86400, raised_at=now)
    yellow = events.alert(yellow_code, level=2, seconds_left=86400, raised_at=now)
    await record(store, red_code, [m(red_code) for m in started] + [red], now)
    await record(store, yellow_code, [m(yellow_code) for m in started] + [yellow], now)

    response = await client.get("/v1/supervision/alerts", headers=bearer("supervision"))
    assert response.status_code == 200
    body = response.json()
    [found] = [a for a in body["red"] if a["application_code"] == red_code]
    assert found["department_code"] == "public-security"
    assert found["matter_code"] == "household-transfer"
    assert found["seconds_left_at_alert"] == -2 * 86400
    assert -2 * 86400 - 120 < found["seconds_left"] <= -2 * 86400
    assert [a for a in body["yellow"] if a["application_code"] == yellow_code]
    assert not [a for a in body["yellow"] if a["application_code"] == red_code]

    # Narrowed by department, matter and region (test codes carry no division).
    for params, expected in (
        ({"department": "public-security"}, True),
        ({"department": "tax"}, False),
        ({"matter": "household-transfer"}, True),
        ({"matter": "birth-of-child"}, False),
        ({"region": "330100"}, False),
    ):
        narrowed = await client.get(
            "/v1/supervision/alerts", params=params, headers=bearer("supervision")
        )
        assert narrowed.status_code == 200, narrowed.text
        codes = {a["application_code"] for a in narrowed.json()["red"]}
        assert (red_code in codes) is expected, params
    refused = await client.get(
        "/v1/supervision/alerts", params={"region": "33"}, headers=bearer("supervision")
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "region"

    await record(store, red_code, [events.task_decided(red_code)], now + timedelta(hours=1))
    body = (await client.get("/v1/supervision/alerts", headers=bearer("operations"))).json()
    assert not [a for a in body["red"] if a["application_code"] == red_code]
    forbidden = await client.get("/v1/supervision/alerts", headers=bearer("department_head"))
    assert forbidden.status_code == 403


async def test_open_alerts_by_level_in_pages(client, store, events) -> None:
    # A matter of this test's own, five alerts: the most overdue first, page by page.
    matter = f"m-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    overdue_days = [3, -1, 5, 1, 2]  # negative: still to come (a yellow)
    codes = [events.code() for _ in overdue_days]
    for code, days in zip(codes, overdue_days, strict=True):
        alert = events.alert(
            code,
            level=3 if days > 0 else 2,
            seconds_left=-days * 86400,
            raised_at=now,
            matter=matter,
        )
        submitted = events.submitted(code, matter)
        await record(store, code, [submitted, events.accepted(code, matter), alert], now)
    expected = [codes[2], codes[0], codes[4], codes[3], codes[1]]

    async def page(**params: object) -> dict:
        answer = await client.get(
            "/v1/supervision/alerts",
            params={"matter": matter, "limit": 2, **params},
            headers=bearer("supervision"),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    found: list[str] = []
    body = await page()
    while True:
        listed = body["legal"] + body["red"] + body["yellow"]
        assert len(listed) <= 2
        found += [a["application_code"] for a in sorted(listed, key=lambda a: a["seconds_left"])]
        if body["next_cursor"] is None:
            break
        body = await page(cursor=body["next_cursor"])
    assert found == expected
    red_only = await page(level="red", limit=10)
    assert [a["application_code"] for a in red_only["red"]] == expected[:4]
    assert red_only["yellow"] == [] and red_only["next_cursor"] is None
    for bad in ({"cursor": "@@"}, {"limit": 0}, {"level": "green"}):
        refused = await client.get(
            "/v1/supervision/alerts", params=bad, headers=bearer("supervision")
        )
        assert refused.status_code == 422, bad


async def test_the_dashboard_page(client) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="zh-CN">' in page
    assert "电子监察看板" in page
    for path in ("/v1/supervision/alerts", "/v1/supervision/figures", "/timeline"):
        assert path in page


async def test_a_clock_past_its_legal_limit_is_listed_as_legal_not_red(client, store, events):
    now = datetime.now(UTC)
    code = events.code()
    started = [events.submitted, events.accepted, events.task_started]
    red = events.alert(code, level=3, seconds_left=-5 * 86400, raised_at=now - timedelta(hours=2))
    legal = events.alert(code, level=4, seconds_left=-7 * 86400, raised_at=now - timedelta(hours=1))
    await record(store, code, [m(code) for m in started] + [red, legal], now)

    body = (await client.get("/v1/supervision/alerts", headers=bearer("supervision"))).json()
    [found] = [a for a in body["legal"] if a["application_code"] == code]
    assert (found["department_code"], found["level"]) == ("public-security", "legal")
    assert not [a for a in body["red"] if a["application_code"] == code]
    status = await client.get(f"/v1/applications/{code}/status", headers=bearer("supervision"))
    assert status.json()["supervision_level"] == "legal"


async def test_the_dashboard_page_sets_security_headers(client) -> None:
    response = await client.get("/dashboard")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self'"
    # The page's one script and one style block, by hash; nothing else inline.
    assert policy["script-src"].startswith("'sha256-") and " " not in policy["script-src"]
    assert policy["style-src"].startswith("'sha256-") and " " not in policy["style-src"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert 'style="' not in response.text


async def test_open_cases_and_rectifications_with_their_clocks(client, store, events) -> None:
    now = datetime.now(UTC)
    code, answered_code = events.code(), events.code()
    case = f"DB-{code}-fire-1"

    def stamp(message, **times: datetime):
        for name, at in times.items():
            getattr(message, name).FromDatetime(at)
        return message

    common = {"application_code": code, "matter_code": "m", "department_code": "fire"}
    await record(
        store,
        code,
        [
            stamp(
                supervision_pb2.SupervisionCaseOpened(
                    **common, case_code=case, level=1, addressee="department_head"
                ),
                opened_at=now - timedelta(days=4),
                response_due_at=now - timedelta(days=1),
            ),
            stamp(
                supervision_pb2.SupervisionCaseEscalated(
                    **common, case_code=case, level=2, addressee="supervision_office"
                ),
                response_due_at=now + timedelta(days=5),
            ),
            stamp(
                supervision_pb2.RectificationOpened(
                    **common, case_code=f"ZG-{code}", rating_level=1
                ),
                opened_at=now - timedelta(days=14),
                due_at=now + timedelta(days=1),
            ),
            supervision_pb2.RectificationAlert(
                **common, case_code=f"ZG-{code}", level=supervision_pb2.SUPERVISION_LEVEL_YELLOW
            ),
        ],
        now - timedelta(days=4),
    )
    # A rectification answered and a case closed are not listed.
    done = {**common, "application_code": answered_code}
    await record(
        store,
        answered_code,
        [
            supervision_pb2.RectificationOpened(**done, case_code=f"ZG-{answered_code}"),
            supervision_pb2.RectificationAnswered(**done, case_code=f"ZG-{answered_code}"),
            supervision_pb2.SupervisionCaseOpened(**done, case_code=f"DB-{answered_code}-fire-1"),
            supervision_pb2.SupervisionCaseClosed(**done, case_code=f"DB-{answered_code}-fire-1"),
        ],
        now - timedelta(days=2),
    )
    denied = await client.get("/v1/supervision/cases", headers=bearer("reviewer"))
    assert denied.status_code == 403
    response = await client.get("/v1/supervision/cases", headers=bearer("supervision"))
    assert response.status_code == 200, response.text
    body = response.json()
    [listed] = [c for c in body["supervision_cases"] if c["application_code"] == code]
    assert (listed["case_code"], listed["level"], listed["addressee"]) == (
        case,
        2,
        "supervision_office",
    )
    assert 4 * 86400 < listed["seconds_left"] <= 5 * 86400
    [rectification] = [r for r in body["rectifications"] if r["application_code"] == code]
    assert (rectification["level"], rectification["rating_level"]) == ("yellow", 1)
    assert 0 < rectification["seconds_left"] <= 86400
    codes = {c["application_code"] for c in body["supervision_cases"] + body["rectifications"]}
    assert answered_code not in codes


async def test_open_work_orders_with_the_clock_that_runs(client, store, events) -> None:
    now = datetime.now(UTC)
    code, order = events.code(), f"WO-{uuid.uuid4().hex[:10]}"
    department = "public-security"

    def clocks() -> workorder_pb2.WorkOrderClocks:
        made = workorder_pb2.WorkOrderClocks(round=1, sign_hours=2, reply_days=3)
        made.sign_due_at.FromDatetime(now + timedelta(hours=2))
        made.reply_due_at.FromDatetime(now + timedelta(days=3))
        return made

    ids = {"application_code": code, "order_code": order, "department_code": department}
    steps = [
        workorder_pb2.WorkOrderFiled(
            **ids,
            kind=workorder_pb2.WORK_ORDER_KIND_COMPLAINT,
            attached_application_code=code,
            region_code="330100",
        ),
        workorder_pb2.WorkOrderOpened(**ids, clocks=clocks()),
    ]
    offset = 0

    async def record_next(*messages) -> dict:
        nonlocal offset
        for message in messages:
            envelope = new_envelope(
                message,
                source="/onceonly/test",
                application_code=code,
                time=now + timedelta(seconds=offset),
            )
            assert await store.append(envelope, topic="w", partition=0, offset=offset)
            offset += 1
        body = (await client.get("/v1/supervision/cases", headers=bearer("supervision"))).json()
        return {w["order_code"]: w for w in body["work_orders"]}.get(order, {})

    found = await record_next(*steps)
    assert (found["stage"], found["kind"], found["level"]) == ("sign", "complaint", "none")
    assert (found["application_code"], found["department_code"]) == (code, department)
    assert 7000 < found["seconds_left"] <= 7200
    red = supervision_pb2.SupervisionLevel.Value("SUPERVISION_LEVEL_RED")
    found = await record_next(workorder_pb2.WorkOrderAlert(**ids, clock="sign", level=red, round=1))
    assert (found["stage"], found["level"]) == ("sign", "red")
    found = await record_next(workorder_pb2.WorkOrderSigned(**ids, round=1, late=True))
    # The reply clock runs now; the red alert was the sign-for clock's.
    assert (found["stage"], found["level"]) == ("reply", "none")
    assert 3 * 86400 - 120 < found["seconds_left"] <= 3 * 86400
    found = await record_next(workorder_pb2.WorkOrderAnswered(**ids, round=1))
    assert (found["stage"], found["due_at"]) == ("callback", None)
    assert await record_next(workorder_pb2.WorkOrderClosed(**ids, rounds=1)) == {}
