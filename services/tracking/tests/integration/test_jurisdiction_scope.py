"""Jurisdictions on tracking: an application submitted anywhere is found under the
division that decides it, with the name of that division; staff of a division see what is
decided there and under it (a city supervisor its counties, a county clerk only its own:
another county's application is the same 404 as an unknown one)."""

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
# (code, submitted at, decided by): all submitted at Hangzhou's centre (全省通办), one
# recorded before jurisdictions (no regions in its event).
APPLICATIONS = [
    ("330100-20261205-0000001", "330100", "330106"),  # Xihu
    ("330100-20261205-0000002", "330100", "330212"),  # Yinzhou, Ningbo
    ("330100-20261205-0000003", "330100", "330102"),  # Shangcheng
    ("330100-20261205-0000004", "", ""),  # before jurisdictions: the code's region
]


def bearer(department: str, *roles: str, region: str = "") -> dict[str, str]:
    token = issue_staff_token(
        KeyRing.parse(KEYS, setting="test"),
        api=StaffApi.TRACKING,
        staff_id=f"{department}-{region or 'province'}",
        department_code=department,
        roles=roles,
        region=region,
    )
    return {"Authorization": f"Bearer {token}"}


PROVINCE = bearer("supervision-office", "supervision")
HANGZHOU = bearer("supervision-office", "supervision", region="330100")
NINGBO = bearer("supervision-office", "supervision", region="330200")
XIHU_CLERK = bearer("public-security", "reviewer", region="330106")


@dataclass
class Tracking:
    client: httpx.AsyncClient

    async def found(self, headers: dict[str, str], **params: object) -> list[str]:
        answer = await self.client.get("/v1/applications", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return sorted(item["application_code"] for item in answer.json()["items"])

    async def status(self, code: str, headers: dict[str, str]) -> int:
        answer = await self.client.get(f"/v1/applications/{code}/status", headers=headers)
        return answer.status_code


@pytest.fixture
async def tracking(database_url: str, events) -> AsyncIterator[Tracking]:
    async with (
        fresh_database(database_url) as dsn,
        migrated_pool(dsn, component="tracking", package="onceonly.tracking", max_size=4) as pool,
    ):
        store = TrackingStore(pool)
        for n, (code, submitted, competent) in enumerate(APPLICATIONS):
            submission = events.submitted(code)
            submission.submitted_region = submitted
            submission.competent_region = competent
            messages = [
                submission,
                events.accepted(code),
                events.task_started(code, "public-security"),
            ]
            if n < 2:  # Xihu's and Yinzhou's task are overdue
                messages.append(events.alert(code, department="public-security"))
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
                yield Tracking(client)


CODES = [code for code, *_ in APPLICATIONS]


async def test_found_under_the_division_that_decides_with_its_name(tracking) -> None:
    assert await tracking.found(PROVINCE, region="330106") == [CODES[0]]
    assert await tracking.found(PROVINCE, region="330200") == [CODES[1]]
    # Hangzhou: its two counties' and the one recorded before jurisdictions.
    assert await tracking.found(PROVINCE, region="330100") == [CODES[0], CODES[2], CODES[3]]
    answer = await tracking.client.get(
        "/v1/applications", params={"region": "330212"}, headers=PROVINCE
    )
    (item,) = answer.json()["items"]
    assert item["region_code"] == "330212" and item["submitted_region"] == "330100"
    assert item["region"] == {
        "code": "330212",
        "name_zh": "宁波市鄞州区",
        "name_en": "Yinzhou District, Ningbo",
    }


async def test_staff_see_their_division_and_what_lies_under_it(tracking) -> None:
    assert await tracking.found(PROVINCE) == CODES
    assert await tracking.found(HANGZHOU) == [CODES[0], CODES[2], CODES[3]]
    assert await tracking.found(NINGBO) == [CODES[1]]
    assert await tracking.found(XIHU_CLERK) == [CODES[0]]
    # A filter cannot widen the scope.
    assert await tracking.found(NINGBO, region="330000") == [CODES[1]]
    assert await tracking.found(XIHU_CLERK, region="330100") == [CODES[0]]


async def test_another_divisions_application_is_not_found(tracking) -> None:
    assert await tracking.status(CODES[0], XIHU_CLERK) == 200
    assert await tracking.status(CODES[2], XIHU_CLERK) == 404
    assert await tracking.status(CODES[1], HANGZHOU) == 404
    assert await tracking.status(CODES[1], NINGBO) == 200
    # The same answer as for an application that does not exist.
    unknown = "330100-20261205-0000099"
    assert await tracking.status(unknown, XIHU_CLERK) == 404
    missing = await tracking.client.get(f"/v1/applications/{unknown}/timeline", headers=XIHU_CLERK)
    other = await tracking.client.get(f"/v1/applications/{CODES[2]}/timeline", headers=XIHU_CLERK)
    assert missing.status_code == other.status_code == 404
    assert missing.json()["detail"].replace(unknown, "X") == other.json()["detail"].replace(
        CODES[2], "X"
    )


async def test_the_timeline_shows_where_it_was_submitted_and_decided(tracking) -> None:
    answer = await tracking.client.get(f"/v1/applications/{CODES[1]}/timeline", headers=PROVINCE)
    first = answer.json()["entries"][0]["summary"]
    assert (first["submitted_region"], first["competent_region"]) == ("330100", "330212")


async def received(tracking: Tracking, headers: dict[str, str], **params: object) -> int:
    """Applications received (by matter) in the fixture's period, every matter added up."""
    period = {"from": "2000-01-01T00:00:00+08:00", "to": "2099-01-01T00:00:00+08:00"}
    answer = await tracking.client.get(
        "/v1/supervision/figures",
        params={**period, "group_by": "matter", **params},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return sum(group["received"] for group in answer.json()["groups"])


async def test_figures_roll_up_from_county_to_city_to_province(tracking) -> None:
    counties = {
        region: await received(tracking, PROVINCE, region=region)
        for region in ("330102", "330106", "330110", "330203", "330212")
    }
    assert counties == {"330102": 1, "330106": 1, "330110": 0, "330203": 0, "330212": 1}
    hangzhou = await received(tracking, PROVINCE, region="330100")
    ningbo = await received(tracking, PROVINCE, region="330200")
    # Hangzhou's counties, and the application recorded before jurisdictions (its code's
    # region is the city's).
    assert hangzhou == counties["330102"] + counties["330106"] + counties["330110"] + 1
    assert ningbo == counties["330203"] + counties["330212"]
    assert await received(tracking, PROVINCE, region="330000") == hangzhou + ningbo
    assert await received(tracking, PROVINCE) == hangzhou + ningbo


async def test_staff_figures_are_their_divisions(tracking) -> None:
    assert await received(tracking, NINGBO) == 1
    assert await received(tracking, HANGZHOU) == 3
    assert await received(tracking, HANGZHOU, region="330106") == 1
    outside = await tracking.client.get(
        "/v1/supervision/figures",
        params={"from": "2000-01-01T00:00:00", "to": "2099-01-01T00:00:00", "region": "330200"},
        headers=HANGZHOU,
    )
    assert outside.status_code == 403


async def test_staff_alerts_are_their_divisions(tracking) -> None:
    async def alerted(headers: dict[str, str], **params: object) -> list[str]:
        answer = await tracking.client.get("/v1/supervision/alerts", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return sorted(a["application_code"] for a in body["red"] + body["yellow"])

    assert await alerted(PROVINCE) == [CODES[0], CODES[1]]
    assert await alerted(PROVINCE, region="330200") == [CODES[1]]
    assert await alerted(HANGZHOU) == [CODES[0]]
    assert await alerted(NINGBO) == [CODES[1]]
    assert await alerted(NINGBO, region="330100") == []
    answer = await tracking.client.get("/v1/supervision/cases", headers=NINGBO)
    assert answer.status_code == 200, answer.text


async def test_the_console_offers_the_divisions_in_scope_by_name(tracking) -> None:
    async def divisions(headers: dict[str, str]) -> dict[str, dict[str, str]]:
        answer = await tracking.client.get("/v1/catalogue/names", headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()["divisions"]

    everywhere = await divisions(PROVINCE)
    assert everywhere["330106"] == {
        "code": "330106",
        "name_zh": "杭州市西湖区",
        "name_en": "Xihu District, Hangzhou",
    }
    assert "330000" in everywhere and "330212" in everywhere
    hangzhou = await divisions(HANGZHOU)
    assert "330100" in hangzhou and "330106001" in hangzhou
    assert not any(code.startswith("3302") for code in hangzhou)
    assert sorted(await divisions(XIHU_CLERK)) == ["330106", "330106001", "330106002"]


async def test_figures_by_division_in_one_answer(tracking) -> None:
    async def by_division(headers: dict[str, str], **params: object) -> dict[str, int]:
        answer = await tracking.client.get(
            "/v1/supervision/figures",
            params={
                "from": "2000-01-01T00:00:00",
                "to": "2099-01-01T00:00:00",
                "group_by": "division",
                **params,
            },
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        return {group["group"]: group["received"] for group in answer.json()["groups"]}

    # The province's cities (Hangzhou's with the one recorded before jurisdictions).
    assert await by_division(PROVINCE) == {"330100": 3, "330200": 1}
    # A city supervisor's counties: the old one counts under the city itself.
    assert await by_division(HANGZHOU) == {"330100": 1, "330102": 1, "330106": 1}
    assert await by_division(PROVINCE, region="330200") == {"330212": 1}
