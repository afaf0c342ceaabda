"""GET /v1/applications: the operations search, on a database of its own so that the
counts are exact, through the API app as staff call it."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from onceonly.platform.auth import StaffApi, issue_staff_token
from onceonly.platform.secrets import KeyRing
from onceonly.platform.testing import fresh_database, migrated_pool
from onceonly.tracking.api import create_app
from onceonly.tracking.settings import TrackingSettings
from onceonly.tracking.store import TrackingStore

pytestmark = pytest.mark.integration

KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"
# (code, matter, departments, red alert?): submitted a minute apart, in this order.
APPLICATIONS = [
    ("330106-20261201-0000001", "household-transfer", ["public-security"], False),
    ("330102-20261201-0000002", "household-transfer", ["public-security"], True),
    ("330106-20261202-0000003", "birth-of-child", ["public-security", "health"], False),
    ("320102-20261202-0000004", "birth-of-child", ["public-security", "health"], False),
    ("330106-20261203-0000005", "household-transfer", ["public-security", "tax"], True),
]


def bearer(department: str, *roles: str) -> dict[str, str]:
    token = issue_staff_token(
        KeyRing.parse(KEYS, setting="test"),
        api=StaffApi.TRACKING,
        staff_id=f"{department}-1",
        department_code=department,
        roles=roles,
    )
    return {"Authorization": f"Bearer {token}"}


SUPERVISOR = bearer("supervision-office", "supervision")


@dataclass
class Searching:
    client: httpx.AsyncClient

    async def codes(self, headers: dict[str, str] = SUPERVISOR, **params: object) -> list[str]:
        """Every code found, following the cursor page by page."""
        found: list[str] = []
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            answer = await self.client.get("/v1/applications", params=query, headers=headers)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            found += [item["application_code"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return found


@pytest.fixture
async def searching(database_url: str, events) -> AsyncIterator[Searching]:
    async with (
        fresh_database(database_url) as dsn,
        migrated_pool(dsn, component="tracking", package="onceonly.tracking", max_size=4) as pool,
    ):
        store = TrackingStore(pool)
        for n, (code, matter, departments, red) in enumerate(APPLICATIONS):
            messages = [events.submitted(code, matter), events.accepted(code, matter)]
            messages += [events.task_started(code, department) for department in departments]
            if red:
                messages.append(events.alert(code, department=departments[-1]))
            for offset, message in enumerate(messages):
                envelope = events.envelope(message, code, minutes=10 * n + offset)
                assert await store.append(envelope, topic="t", partition=0, offset=offset)
        settings = TrackingSettings(
            environment="development", database_url=dsn, tracking_api_token_keys=KEYS
        )
        app = create_app(settings, pool=pool)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield Searching(client)


NEWEST_FIRST = [code for code, *_ in reversed(APPLICATIONS)]


async def test_supervision_pages_through_everything_newest_first(searching) -> None:
    for limit in (1, 2, 50):
        assert await searching.codes(limit=limit) == NEWEST_FIRST
    answer = await searching.client.get("/v1/applications", params={"limit": 2}, headers=SUPERVISOR)
    body = answer.json()
    first = body["items"][0]
    assert first["application_code"] == NEWEST_FIRST[0]
    assert first["region_code"] == "330106"
    assert first["matter"]["name_zh"] and first["matter"]["code"] == "household-transfer"
    assert {d["code"] for d in first["departments"]} == {"public-security", "tax"}
    assert all(d["name_zh"] and d["name_en"] for d in first["departments"])
    assert first["supervision_level"] == "red"
    assert first["submitted_at"].startswith("2025-03-03T09:40")


async def test_filters_narrow_the_search(searching) -> None:
    codes = searching.codes
    # A county, a city (its counties), a province, another province.
    assert await codes(region="330106") == [NEWEST_FIRST[0], NEWEST_FIRST[2], NEWEST_FIRST[4]]
    assert await codes(region="330100") == [c for c in NEWEST_FIRST if c.startswith("3301")]
    assert await codes(region="330000") == [c for c in NEWEST_FIRST if c.startswith("33")]
    assert await codes(region="320000") == ["320102-20261202-0000004"]
    assert await codes(matter="birth-of-child") == [NEWEST_FIRST[1], NEWEST_FIRST[2]]
    assert await codes(department="tax") == [NEWEST_FIRST[0]]
    assert await codes(level=["red"]) == [NEWEST_FIRST[0], NEWEST_FIRST[3]]
    assert await codes(level=["red"], region="330102") == [NEWEST_FIRST[3]]
    assert await codes(status=["accepted"]) == NEWEST_FIRST
    assert await codes(status=["completed", "withdrawn"]) == []
    assert await codes(code="330106-2026120") == [NEWEST_FIRST[0], NEWEST_FIRST[2], NEWEST_FIRST[4]]
    assert await codes(code="330106_2026") == []  # '_' is a character, not a wildcard
    assert await codes(open_case="true") == []
    # Submitted times are those of the submissions (2025-03-03 09:00 UTC, 10 min apart).
    assert await codes(
        submitted_from="2025-03-03T09:10:00Z", submitted_to="2025-03-03T09:30:00Z"
    ) == [NEWEST_FIRST[2], NEWEST_FIRST[3]]
    # Without a zone: China Standard Time (17:10 there is 09:10 UTC).
    assert await codes(submitted_from="2025-03-03T17:10:00") == NEWEST_FIRST[:4]


async def test_a_department_finds_only_where_it_has_a_task(searching) -> None:
    health = bearer("health", "reviewer")
    assert await searching.codes(health) == [NEWEST_FIRST[1], NEWEST_FIRST[2]]
    # Its own filters cannot widen that.
    assert await searching.codes(health, department="tax") == []
    assert await searching.codes(health, region="320000") == ["320102-20261202-0000004"]
    assert await searching.codes(bearer("tax", "department_head")) == [NEWEST_FIRST[0]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": "3301"}, "region"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"status": "done"}, "status"),
        ({"level": "orange"}, "level"),
        ({"matter": "Birth"}, "matter"),
        ({"code": "33\x00"}, "code"),
        (
            {"submitted_from": "2025-03-03T10:00:00Z", "submitted_to": "2025-03-03T09:00:00Z"},
            "submitted_to",
        ),
        ({"submitted_from": "0001-01-01T00:00:00+14:00"}, "submitted_from"),
        ({"updated_to": "9999-12-31T23:59:59-14:00"}, "updated_to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
    ],
)
async def test_bad_input_is_a_422_naming_the_parameter(searching, params, field) -> None:
    answer = await searching.client.get("/v1/applications", params=params, headers=SUPERVISOR)
    assert answer.status_code == 422, answer.text
    assert field in {error["field"] for error in answer.json()["errors"]}, answer.text


async def test_a_cursor_of_the_longest_code_is_accepted(searching) -> None:
    # Cursors carry a time and a code: with the longest code they are long, not refused.
    from datetime import UTC, datetime

    from onceonly.tracking.search import Cursor

    cursor = Cursor(datetime(2026, 12, 5, 8, 0, 0, 123456, tzinfo=UTC), "A" * 64).encode()
    answer = await searching.client.get(
        "/v1/applications", params={"cursor": cursor}, headers=SUPERVISOR
    )
    assert answer.status_code == 200, answer.text


async def test_only_staff_search(searching) -> None:
    assert (await searching.client.get("/v1/applications")).status_code == 401
