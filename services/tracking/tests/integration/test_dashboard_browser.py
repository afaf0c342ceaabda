"""The supervision dashboard in a real headless Chromium (Debian's, driven by Playwright).

The real `onceonly-tracking api` process serves the page on the test database; the
test records events through the real store (timeline and status projection), so the
page shows exactly what the projection made of them.
"""

import asyncio
import csv
import io
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from google.protobuf.message import Message
from playwright.async_api import Browser, Page, async_playwright, expect

from onceonly.events.v1 import approval_pb2, supervision_pb2
from onceonly.platform.auth import StaffApi, issue_staff_token
from onceonly.platform.envelope import new_envelope
from onceonly.platform.secrets import KeyRing
from onceonly.platform.staff_directory import StaffDirectory
from onceonly.platform.testing import eventually, free_port, unique_prefix
from onceonly.tracking.store import TrackingStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
CHROMIUM = Path(os.environ.get("ONCEONLY_CHROMIUM", "/usr/bin/chromium"))
KEYS = "test-1:tracking-dashboard-test-secret-of-32-bytes-or-more"
DEADLINE_SECONDS = 60.0
# Playwright's auto-waiting assertions, in milliseconds.
UI_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed by deploy/local/browser.sh when missing."""
    if not CHROMIUM.exists():
        installed = subprocess.run(
            [str(REPO / "deploy/local/browser.sh")], capture_output=True, text=True, check=False
        )
        if installed.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(
                f"Chromium ({CHROMIUM}) is missing and deploy/local/browser.sh could not"
                f" install it: {(installed.stderr or installed.stdout)[-500:]}"
            )
    return CHROMIUM


@pytest.fixture
def api_process(
    database_url: str, tmp_path: Path, provider
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The real API process on a free port, its console signing in through the test's
    single sign-on provider too; yields its base URL and the process."""
    port = free_port()
    env = {
        "ONCEONLY_STAFF_OIDC_ISSUER": provider.issuer,
        "ONCEONLY_STAFF_OIDC_AUDIENCE": provider.audience,
        "ONCEONLY_STAFF_OIDC_JWKS_URL": provider.url("/jwks"),
        "ONCEONLY_TRACKING_CONSOLE_OIDC_AUTHORIZATION_URL": provider.url("/authorize"),
        "ONCEONLY_TRACKING_CONSOLE_OIDC_TOKEN_URL": provider.url("/token"),
        "ONCEONLY_TRACKING_CONSOLE_OIDC_CLIENT_ID": "onceonly-console",
        "ONCEONLY_TRACKING_CONSOLE_OIDC_REDIRECT_URL": (
            f"http://127.0.0.1:{port}/v1/session/oidc/callback"
        ),
        **os.environ,
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_TRACKING_API_TOKEN_KEYS": KEYS,
        "ONCEONLY_TRACKING_HOST": "127.0.0.1",
        "ONCEONLY_TRACKING_PORT": str(port),
        "ONCEONLY_TRACKING_CONSOLE_TEMPORAL_URL": "http://temporal-ui.example:8233/",
        "ONCEONLY_TRACKING_CONSOLE_TRACES_URL": "http://jaeger.example:16686",
        "PYTHONUNBUFFERED": "1",
    }
    script = Path(sys.executable).parent / "onceonly-tracking"
    log_path = tmp_path / "tracking-api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(script), "api"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield f"http://127.0.0.1:{port}", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    if process.returncode not in (0, -15):
        print(log_path.read_text(errors="replace")[-5000:])


@pytest.fixture
async def api_url(api_process: tuple[str, subprocess.Popen[bytes]]) -> str:
    """The API's URL once it serves the page."""
    url, process = api_process

    async def page_status() -> int:
        if process.poll() is not None:
            raise AssertionError(f"the API exited with {process.returncode}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{url}/dashboard")).status_code
        except httpx.TransportError:
            return 0

    await eventually(page_status, lambda code: code == 200, what="the API", within=DEADLINE_SECONDS)
    return url


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium),
            args=["--disable-background-networking", "--disable-dev-shm-usage", "--no-sandbox"],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    # A supervision office's browser: Chinese, China time (the month picker is local).
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def record(store: TrackingStore, code: str, lives: list[tuple[datetime, Message]]) -> None:
    for offset, (time, message) in enumerate(lives):
        envelope = new_envelope(message, source="/onceonly/test", application_code=code, time=time)
        assert await store.append(envelope, topic="t", partition=0, offset=offset)


def case_opened(code: str, department: str, matter: str, now: datetime) -> Message:
    """The supervision case (督办件) the red alert opened, due in three days."""
    message = supervision_pb2.SupervisionCaseOpened(
        application_code=code,
        case_code=f"DB-{code}-{department}-1",
        matter_code=matter,
        department_code=department,
        clock_department_code=department,
        level=1,
        addressee="department_head",
        response_days=3,
    )
    message.opened_at.FromDatetime(now)
    message.response_due_at.FromDatetime(now + timedelta(days=3, minutes=5))
    return message


PASSWORD = "correct horse battery staple"


async def sign_in(
    page: Page, pool: asyncpg.Pool, staff_id: str, department: str, roles: tuple[str, ...]
) -> None:
    """Put a staff member in the directory and sign in through the page's form."""
    await StaffDirectory(pool).put(
        staff_id=staff_id,
        display_name="王监察",
        department_code=department,
        roles=roles,
        password=PASSWORD,
    )
    await page.fill("#staff-id", staff_id)
    await page.fill("#password", PASSWORD)
    await page.click("#sign-in")
    await expect(page.locator("#who")).to_contain_text("王监察", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#password")).to_have_value("")


def decided(code: str, department: str) -> Message:
    return approval_pb2.TaskDecided(
        application_code=code,
        department_code=department,
        outcome=approval_pb2.DECISION_OUTCOME_APPROVED,
    )


async def test_dashboard_shows_a_red_alert_figures_and_a_timeline_in_both_languages(
    api_url: str, page: Page, store: TrackingStore, pool: asyncpg.Pool, events
) -> None:
    tag = unique_prefix("dash")
    matter, department = f"m-{tag}", f"dep-{tag}"
    now = datetime.now(UTC)
    red_code = events.code()
    await record(
        store,
        red_code,
        [
            (now - timedelta(days=12), events.submitted(red_code, matter)),
            (now - timedelta(days=12), events.accepted(red_code, matter)),
            (now - timedelta(days=12), events.task_started(red_code, department)),
            (
                now,
                events.alert(
                    red_code,
                    department=department,
                    matter=matter,
                    level=3,
                    seconds_left=-2 * 86400,
                    raised_at=now,
                ),
            ),
            (now, case_opened(red_code, department, matter, now)),
        ],
    )
    # February 2024 (China time): one task on time (2 of 10 days), one overdue (12).
    february = datetime(2024, 2, 5, 9, tzinfo=UTC)
    for start, days in ((february, 2), (february + timedelta(days=3), 12)):
        code = events.code()
        await record(
            store,
            code,
            [
                (start, events.submitted(code, matter)),
                (start, events.task_started(code, department)),
                (start + timedelta(days=days), decided(code, department)),
            ],
        )

    await page.goto(f"{api_url}/dashboard")
    await expect(page).to_have_title("电子监察看板")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    await expect(page.locator("#lang")).to_have_text("English")
    await sign_in(page, pool, f"sup-{tag}", "supervision-office", ("supervision",))
    await page.fill("#month", "2024-02")
    await page.click("#load")

    red_row = page.locator("#red-table tbody tr", has_text=red_code)
    await expect(red_row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    cells = red_row.locator("td")
    await expect(cells).to_have_text([red_code, matter, department, "超期 2.0 天"])
    assert await red_row.get_attribute("class") == "red"
    await expect(page.locator("#yellow-table tbody tr", has_text=red_code)).to_have_count(0)

    figures_row = page.locator("#figures-table tbody tr", has_text=department)
    await expect(figures_row.locator("td")).to_have_text(
        # No rectification; the open case counts whatever the period; no work order.
        [
            *(department, "2", "2", "50.0%", "7", "10", "100.0%", "50.0%", "0.0%", "0"),
            *("-", "-", "1", "0", "-"),
        ],
        timeout=UI_TIMEOUT_MS,
    )
    bars = page.locator(f'#days-chart g[data-group="{department}"] rect')
    await expect(bars).to_have_count(2)
    assert await bars.nth(0).get_attribute("data-kind") == "committed"
    assert await bars.nth(0).get_attribute("data-days") == "10"
    assert await bars.nth(1).get_attribute("data-days") == "7"
    committed_width = float(await bars.nth(0).get_attribute("width") or 0)
    actual_width = float(await bars.nth(1).get_attribute("width") or 0)
    assert actual_width == pytest.approx(committed_width * 0.7, rel=1e-3)

    # The 12345 work orders table is there (no order in this test: "none" is shown
    # unless other tests' orders are open; the API test checks the rows).
    await expect(page.locator('h2[data-i18n="workOrders"]')).to_have_text("12345 工单 (未办结)")

    # The on-time rate month by month, the six months up to February: one point.
    trend = page.locator(f'#trend-chart g[data-group="{department}"]')
    await expect(trend).to_have_attribute("data-rates", ",,,,,0.5", timeout=UI_TIMEOUT_MS)
    await expect(trend.locator("circle")).to_have_count(1)
    assert await trend.locator("circle").get_attribute("data-month") == "2024-02"
    await expect(page.locator("#trend-chart text", has_text="2023-09")).to_have_count(1)

    # The open supervision case, addressed to the department head, with its clock.
    case_row = page.locator("#cases-table tbody tr", has_text=red_code)
    await expect(case_row.locator("td")).to_have_text(
        [f"DB-{red_code}-{department}-1", red_code, department, "部门负责人", "剩余 3.0 天"],
        timeout=UI_TIMEOUT_MS,
    )

    await page.fill("#code", red_code)
    await page.click("#find")
    timeline = page.locator("#timeline-table tbody tr td:nth-child(3)")
    await expect(timeline).to_have_text(
        ["提交申请", "受理", "部门开始审查", "电子监察预警", "督办件立案"], timeout=UI_TIMEOUT_MS
    )
    await expect(page.locator("#app-status")).to_have_text(
        f"{red_code} · 状态: 已受理 · 监察: 红牌"
    )
    # Its workflow in Temporal's UI and its trace, where the deployment says they are.
    links = page.locator("#app-links a")
    await expect(links).to_have_text(["Temporal 流程", "链路追踪"])
    assert await links.nth(0).get_attribute("href") == (
        f"http://temporal-ui.example:8233/namespaces/default/workflows/{red_code}"
    )
    trace = await links.nth(1).get_attribute("href") or ""
    assert trace.startswith("http://jaeger.example:16686/search?service=intake-api&tags=")
    assert red_code in trace
    await expect(page.locator("#error")).to_have_text("")

    # English, with what is on screen rendered again in English.
    await page.click("#lang")
    assert await page.get_attribute("html", "lang") == "en"
    await expect(page).to_have_title("E-supervision dashboard")
    await expect(page.locator("#lang")).to_have_text("中文")
    await expect(page.locator("section h2").first).to_have_text(
        "Past the legal limit (escalated to the supervision office)"
    )
    await expect(page.locator('h2[data-i18n="red"]')).to_have_text("Red (overdue)")
    await expect(cells.nth(3)).to_have_text("over by 2.0 days")
    await expect(timeline).to_have_text(
        ["Submitted", "Accepted", "Task started", "Supervision alert", "Supervision case opened"]
    )
    await expect(case_row.locator("td").nth(3)).to_have_text("department head")
    await expect(page.locator("#app-status")).to_have_text(
        f"{red_code} · Status: accepted · Supervision: red"
    )
    # And back to Chinese.
    await page.click("#lang")
    await expect(page.locator('h2[data-i18n="red"]')).to_have_text("红牌 (已超期)")
    await expect(cells.nth(3)).to_have_text("超期 2.0 天")

    # An unknown application: a readable error, the previous timeline gone.
    await page.fill("#code", f"NOPE-{tag}")
    await page.click("#find")
    await expect(page.locator("#error")).to_contain_text("未找到", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#timeline-table tbody tr")).to_have_count(0)


async def test_console_signs_in_through_single_sign_on(api_url: str, page: Page) -> None:
    await page.goto(f"{api_url}/dashboard")
    await expect(page.locator("#sign-on")).to_be_visible(timeout=UI_TIMEOUT_MS)
    # To the provider (which signs the staff member in at once) and back, signed in.
    await page.click("#sign-on")
    await page.wait_for_url(f"{api_url}/dashboard", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#who")).to_contain_text("wang.jc", timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#signed-out")).to_be_hidden()
    # A refused sign-on comes back with a readable message, not signed in.
    await page.click("#sign-out")
    await page.goto(f"{api_url}/v1/session/oidc/callback?code=forged&state=forged")
    await expect(page.locator("#error")).to_contain_text("统一身份认证未通过")
    await expect(page.locator("#signed-out")).to_be_visible()


async def test_dashboard_opens_in_english_on_request(api_url: str, page: Page) -> None:
    await page.goto(f"{api_url}/dashboard?lang=en")
    await expect(page).to_have_title("E-supervision dashboard")
    assert await page.get_attribute("html", "lang") == "en"
    await expect(page.locator("#find")).to_have_text("Find")


def test_the_install_script_is_idempotent(chromium: Path) -> None:
    """With Chromium present, the bring-up's script installs nothing and says so."""
    rerun = subprocess.run(
        [str(REPO / "deploy/local/browser.sh")], capture_output=True, text=True, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"({chromium})" in rerun.stdout
    assert "installing" not in rerun.stdout


async def test_console_finds_pages_exports_and_drills_down(
    api_url: str, page: Page, store: TrackingStore, pool: asyncpg.Pool, events, tmp_path: Path
) -> None:
    # A county of its own (a code no other test uses), three applications in it.
    region = f"8{uuid.uuid4().int % 10**4:04d}1"
    now = datetime.now(UTC)
    codes = [f"{region}-20261205-000000{n}" for n in (1, 2, 3)]
    for n, code in enumerate(codes):
        matter = "birth-of-child" if n == 1 else "household-transfer"
        at = now - timedelta(hours=3 - n)
        life = [(at, events.submitted(code, matter)), (at, events.accepted(code, matter))]
        life.append((at, events.task_started(code, "public-security")))
        if n == 2:
            life.append((at, events.alert(code, matter=matter, level=3, raised_at=at)))
        await record(store, code, life)
    token = issue_staff_token(
        KeyRing.parse(KEYS, setting="test"),
        api=StaffApi.TRACKING,
        staff_id="ops-1",
        department_code="operations-centre",
        roles=("operations",),
    )

    await page.goto(f"{api_url}/dashboard?page_size=2")
    await sign_in(page, pool, f"ops-{region}", "operations-centre", ("operations",))
    # The filters offer the catalogue's names.
    await expect(page.locator("#f-matter option", has_text="户籍迁移")).to_have_count(
        1, timeout=UI_TIMEOUT_MS
    )
    # Divisions are offered by name (the operations centre's: the whole province).
    await expect(page.locator('#divisions option[value="330106"]')).to_have_text(
        "杭州市西湖区", timeout=UI_TIMEOUT_MS
    )
    await page.fill("#f-region", region)
    await page.click("#browse")
    found = page.locator("#found-table tbody tr")
    await expect(found).to_have_count(2, timeout=UI_TIMEOUT_MS)
    await expect(found.locator("td:nth-child(1)")).to_have_text([codes[2], codes[1]])
    await expect(found.first.locator("td").nth(2)).to_have_text("户籍迁移")
    await expect(found.first.locator("td").nth(4)).to_have_text("红牌")
    await expect(found.first.locator("td").nth(5)).to_have_text("公安局")
    # The next page, then no more.
    await page.click("#more")
    await expect(found).to_have_count(3, timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#more")).to_be_disabled()
    shot = tmp_path / "console.png"
    await page.screenshot(path=str(shot), full_page=True)
    print(f"console screenshot: {shot}")

    # The export holds exactly the API's rows for the same search.
    async with page.expect_download() as download_info:
        await page.click("#export")
    saved = await (await download_info.value).path()
    exported = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(exported)))
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        api = (await http.get(f"{api_url}/v1/applications", params={"region": region})).json()
    assert [r["application_code"] for r in rows] == [a["application_code"] for a in api["items"]]
    for row, item in zip(rows, api["items"], strict=True):
        assert row["matter_code"] == item["matter"]["code"]
        assert row["status"] == item["status"]
        assert row["supervision_level"] == item["supervision_level"]
        assert row["departments"] == ";".join(d["code"] for d in item["departments"])
        assert row["submitted_at"] == item["submitted_at"]

    # Narrowed to red; a code opens the application's timeline.
    await page.select_option("#f-level", "red")
    await page.click("#browse")
    await expect(found.locator("td:nth-child(1)")).to_have_text([codes[2]], timeout=UI_TIMEOUT_MS)
    await found.first.locator("a.code").click()
    await expect(page.locator("#timeline-table tbody tr td:nth-child(3)")).to_have_text(
        ["提交申请", "受理", "部门开始审查", "电子监察预警"], timeout=UI_TIMEOUT_MS
    )
    await expect(page.locator("#app-status")).to_contain_text(codes[2])
    # English: the names and the choices too.
    await page.click("#lang")
    await expect(found.first.locator("td").nth(5)).to_have_text("Public Security Bureau")
    await expect(page.locator("#error")).to_have_text("")
