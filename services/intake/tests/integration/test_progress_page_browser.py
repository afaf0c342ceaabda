"""The citizens' mobile progress page in a real headless Chromium (Debian's, driven by
Playwright) at a phone's width (390 px), in Chinese and in English.

The real `onceonly-intake api` process serves the page and the lookup on the test
database; the approval events go through the follower's handler into
intake.approval_status, so the page shows exactly what the projection made of them.
Screenshots are written to files whose paths the test prints (`-s` shows them;
ONCEONLY_SCREENSHOT_DIR keeps them somewhere other than pytest's tmp_path).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.events.v1 import approval_pb2
from onceonly.intake.approval_follower import ApprovalFollower
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.envelope import new_envelope
from onceonly.platform.testing import eventually, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
CHROMIUM = Path(os.environ.get("ONCEONLY_CHROMIUM", "/usr/bin/chromium"))
PHONE = {"width": 390, "height": 844}  # a current iPhone's CSS pixels
DEADLINE_SECONDS = 60.0
UI_TIMEOUT_MS = 30_000
DUE = date(2027, 1, 5)  # past the published holiday notices: an estimate


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
    database_url: str, settings: IntakeSettings, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The real intake API process on a free port; yields its base URL and the process."""
    port = free_port()
    env = {
        **os.environ,
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_TOPIC_PREFIX": settings.topic_prefix,
        "ONCEONLY_INTAKE_HOST": "127.0.0.1",
        "ONCEONLY_INTAKE_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    script = Path(sys.executable).parent / "onceonly-intake"
    log_path = tmp_path / "intake-api.log"
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
    url, process = api_process

    async def health() -> int:
        if process.poll() is not None:
            raise AssertionError(f"the API exited with {process.returncode}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{url}/ready")).status_code
        except httpx.TransportError:
            return 0

    await eventually(health, lambda code: code == 200, what="the API", within=DEADLINE_SECONDS)
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
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ONCEONLY_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def phone(browser: Browser, locale: str) -> BrowserContext:
    """A phone's browser in `locale` (its Accept-Language), in China's time zone."""
    return await browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=locale,
        timezone_id="Asia/Shanghai",
    )


def watch_csp(page: Page) -> list[str]:
    """Messages of anything the Content-Security-Policy refused (none may appear)."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return refused


async def shoot(page: Page, folder: Path, name: str) -> Path:
    path = folder / f"progress-{name}-390px.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")
    return path


async def fits_the_phone(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def clock(*, paused: bool = False) -> approval_pb2.Clock:
    end = datetime(DUE.year, DUE.month, DUE.day, 23, 59, 59, tzinfo=CHINA_STANDARD_TIME)
    return approval_pb2.Clock(
        committed_days=10,
        day_kind="natural",
        started_at=ts(datetime.now(UTC)),
        due_at=ts(end),
        paused=paused,
        provisional=True,
    )


async def submitted_and_asked_for_more(
    api_url: str,
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    integrator: Any,
    application: dict[str, Any],
) -> tuple[str, str, date]:
    """An application accepted with a missing item, its department asking for another:
    (code, lookup token, the department's deadline in China)."""
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.post(
            "/v1/applications", json=application, headers=integrator.headers
        )
    assert response.status_code == 201, response.text
    receipt = response.json()
    code = receipt["application_code"]
    supplement_due = datetime.now(UTC) + timedelta(days=20)
    follower = ApprovalFollower.from_settings(pool, settings)
    events = [
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code="household-transfer",
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY,
            missing_materials=["household-register"],
            clock=clock(),
        ),
        approval_pb2.TaskStarted(
            application_code=code, department_code="public-security", clock=clock()
        ),
        approval_pb2.TaskDecided(
            application_code=code,
            department_code="public-security",
            outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
            reason="申请表签名不清",
            missing_materials=["transfer-application"],
            supplement_due_at=ts(supplement_due),
            clock=clock(paused=True),
        ),
    ]
    for offset, message in enumerate(events):
        at = datetime.now(UTC) + timedelta(seconds=offset)
        await follower.handle(
            new_envelope(message, source="/onceonly/workflow", application_code=code, time=at)
        )
    due = supplement_due.astimezone(CHINA_STANDARD_TIME).date()
    return code, receipt["progress_token"], due


async def test_the_progress_page_on_a_phone_in_chinese_and_english(
    api_url: str,
    browser: Browser,
    screenshots: Path,
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    code, token, supplement_due = await submitted_and_asked_for_more(
        api_url, pool, settings, integrator, person_application
    )

    # Chinese: opened from the SMS link (the code only); the applicant types the digits.
    context = await phone(browser, "zh-CN")
    try:
        page = await context.new_page()
        refused = watch_csp(page)
        await page.goto(f"{api_url}/progress/{code}")
        await expect(page).to_have_title("办件进度")
        await expect(page.locator("#code")).to_have_text(f"办件编号：{code}")
        await expect(page.locator("#ask")).to_be_visible(timeout=UI_TIMEOUT_MS)
        # Wrong digits: the lookup's one 404, said plainly.
        await page.locator("#last4").fill("1234")
        await page.locator("#go").click()
        await expect(page.locator("#error")).to_have_text(
            "未找到该办件，或手机号码后四位不正确。", timeout=UI_TIMEOUT_MS
        )
        await expect(page.locator("#answer")).to_be_hidden()
        await page.locator("#last4").fill("5678")
        await page.locator("#go").click()
        await expect(page.locator("#answer")).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#error")).to_have_text("")
        await expect(page.locator("#matter")).to_have_text("户籍迁移")
        await expect(page.locator("#status")).to_have_text("容缺受理，审批中")
        await expect(page.locator("#when-label")).to_have_text("预计办结日期")
        await expect(page.locator("#when-date")).to_have_text("2027年1月5日估计")
        await expect(page.locator("#when-estimate")).to_be_visible()
        await expect(page.locator("#when-left")).to_contain_text("个工作日")
        await expect(page.locator("#when")).to_contain_text("此日期为估算")
        await expect(page.locator("#when")).to_contain_text("计时暂停中")
        await expect(page.locator("#provide")).to_contain_text("户口簿")
        await expect(page.locator("#provide")).to_contain_text("请在办结前提交")
        await expect(page.locator("#provide")).to_contain_text("公安局要求")
        await expect(page.locator("#provide")).to_contain_text("户口迁移申请表")
        day = f"{supplement_due.year}年{supplement_due.month}月{supplement_due.day}日"
        await expect(page.locator("#provide")).to_contain_text(f"请于 {day} 前提交")
        await expect(page.locator("#deciding li")).to_have_text(["公安局 — 等待您补正"])
        await expect(page.locator("#steps li span")).to_have_text(
            [
                "公安局要求补正材料，该环节暂停计时",
                "公安局开始审查",
                "已容缺受理，进入审批（请在办结前补交材料）",
                "已提交申请",
            ]
        )
        # Nothing of the applicant or the reviewer's words.
        shown = await page.locator("body").inner_text()
        for private in ("张三丰", "138", "002X", "签名不清"):
            assert private not in shown
        await fits_the_phone(page)
        await shoot(page, screenshots, "zh")

        # The switch re-renders what is on screen in English, without another lookup.
        await page.locator("#lang").click()
        await expect(page).to_have_title("Application progress")
        await expect(page.locator("#when-date")).to_have_text("5 Jan 2027estimate")
        await expect(page.locator("#deciding li")).to_have_text(
            ["Public Security Bureau — waiting for your materials"]
        )
        assert page.url.endswith("?lang=en")
        await fits_the_phone(page)
        assert refused == []
    finally:
        await context.close()

    # English by Accept-Language, opened from an integrator's link with the token.
    context = await phone(browser, "en-GB")
    try:
        page = await context.new_page()
        refused = watch_csp(page)
        await page.goto(f"{api_url}/progress/{code}#t={token}")
        await expect(page.locator("#answer")).to_be_visible(timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#ask")).to_be_hidden()
        await expect(page.locator("#title")).to_have_text("Application progress")
        await expect(page.locator("#status")).to_have_text("In approval (items to follow)")
        await expect(page.locator("#when-label")).to_have_text("Expected completion date")
        await expect(page.locator("#when-date")).to_have_text("5 Jan 2027estimate")
        await expect(page.locator("#when-left")).to_contain_text("working days left")
        await expect(page.locator("#provide")).to_contain_text("Household register")
        await expect(page.locator("#provide")).to_contain_text("Provide before completion")
        await expect(page.locator("#steps li span").first).to_have_text(
            "Public Security Bureau asked for more materials; its clock is paused"
        )
        await fits_the_phone(page)
        await shoot(page, screenshots, "en")
        assert refused == []
    finally:
        await context.close()
