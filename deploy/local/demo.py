"""`make demo`: a household-registration transfer (户籍迁移), then a construction joint
approval with an extension, a return for re-review and a joint on-site inspection, told
step by step.

Runs against the system that `make up` started. It acts as each party in turn: an
operator registering an integrator, the provincial portal submitting an application,
a public-security reviewer deciding it, and a supervisor reading the timeline.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.settings import PlatformSettings, load_settings

REPO = Path(__file__).resolve().parents[2]
console = Console(highlight=False)
if not console.is_terminal:  # piped or logged: room for the timeline's columns
    console = Console(highlight=False, width=120)


def port(name: str, default: int) -> str:
    return f"http://127.0.0.1:{os.environ.get(name, default)}"


INTAKE = port("ONCEONLY_INTAKE_PORT", 8000)
WORKFLOW = port("ONCEONLY_WORKFLOW_API_PORT", 8001)
TRACKING = port("ONCEONLY_TRACKING_PORT", 8002)
NOTIFY = port("ONCEONLY_NOTIFY_PORT", 8003)
TEMPORAL_UI = port("ONCEONLY_TEMPORAL_UI_PORT", 8233)

APPLICATION = {
    "matter_code": "household-transfer",
    # 张伟 is in the demonstration base registry, with a flat in 西湖区.
    "applicant": {"kind": "person", "name": "张伟", "identifier": "330106198703152315"},
    "contact": {"mobile": "13812345678", "channels": ["sms"], "language": "zh"},
    # No ID card and no proof of residence: the shared-data checks confirm both (免证办).
    "materials": [
        {"code": "transfer-application", "reference": "dms://portal/2026/11/transfer-form.pdf"},
        {"code": "household-register", "reference": "dms://portal/2026/11/hukou-book.pdf"},
    ],
    "form": {"from_district": "上城区", "to_district": "西湖区", "reason": "购房迁入"},
    # 授权: he consented to both lookups on the portal; without consent they are not run.
    "consents": [
        {"purpose": "population", "reference": "portal-consent/2026/11/0001"},
        {"purpose": "real-estate", "reference": "portal-consent/2026/11/0002"},
    ],
}


CONSTRUCTION = {
    "matter_code": "construction-joint-approval",
    "applicant": {
        "kind": "organisation",
        "name": "杭州西溪建设工程有限公司",
        "identifier": "91330106MA27WN6H10",
    },
    "contact": {"mobile": "13900001111", "channels": ["sms"], "language": "zh"},
    "materials": [
        {"code": code, "reference": f"dms://portal/2026/12/{code}.pdf"}
        for code in (
            "project-application",
            "land-use-certificate",
            "site-plan",
            "design-drawings",
            "fire-design",
            "contractor-contract",
        )
    ],
    "form": {"project": "西溪科创园二期", "floor_area_m2": 42000},
}
LEAD = "natural-resources"  # the matter's lead department (牵头部门)


def step(number: int, title: str) -> None:
    console.print(f"\n[bold cyan]{number}. {title}[/]")


async def eventually(probe: Callable[[], Awaitable[Any]], *, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    with console.status(f"waiting for {what} ..."):
        while time.monotonic() < deadline:
            result = await probe()
            if result:
                return result
            await asyncio.sleep(0.3)
    raise SystemExit(f"demo failed: {what} did not happen within {within:.0f}s (see .run/logs/)")


def create_integrator() -> str:
    # Our own CLI, by absolute path, with fixed arguments.
    output = subprocess.run(  # noqa: S603
        [
            str(REPO / ".venv/bin/onceonly-intake"),
            "integrator",
            "create",
            "浙里办 portal (demo)",
            "--reuse",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return str(json.loads(output)["api_key"])


def staff(tokens: StaffTokens, staff_id: str, department: str, role: str) -> dict[str, str]:
    """Headers with a token for the one API that `tokens` are for."""
    token = tokens.issue(staff_id=staff_id, department_code=department, roles=(role,))
    return {"Authorization": f"Bearer {token}"}


def summary_text(summary: dict[str, Any]) -> str:
    """The few fields a reader wants from an event, enum prefixes dropped."""
    parts = []
    for key in ("outcome", "status"):
        if summary.get(key):
            parts.append(str(summary[key]).split("_OUTCOME_")[-1].split("_STATUS_")[-1].lower())
    for key in ("department_code", "elicence_number", "channel", "recipient_masked"):
        if summary.get(key):
            parts.append(str(summary[key]))
    checks = summary.get("checks", [])
    if checks:
        parts.append(" ".join(f"{c['check']}:{'ok' if c.get('passed') else 'no'}" for c in checks))
    due = summary.get("clock", {}).get("due_at")
    if due and summary.get("outcome", "").startswith("ACCEPTANCE"):
        parts.append(f"due {due[:10]}")
    return " ".join(parts)


async def main() -> None:
    # The keys of the running system (deploy/local/env: development, said explicitly);
    # a staff token is for one API only.
    settings = load_settings(PlatformSettings)
    department_api, tracking_api, notify_api = (
        load_settings(lambda api=api: StaffTokens.from_settings(settings, api))
        for api in (StaffApi.DEPARTMENT, StaffApi.TRACKING, StaffApi.NOTIFY)
    )
    police = staff(department_api, "ps-0042", "public-security", "reviewer")
    supervisor = staff(tracking_api, "sup-0007", "supervision-office", "supervision")
    operations = staff(notify_api, "ops-0001", "operations-centre", "operations")
    console.print(
        Panel.fit(
            "Once-Only demo: a household registration transfer (户籍迁移)\n"
            "one application, submitted once, through intake → Kafka → Temporal → "
            "tracking and notify",
            style="bold",
        )
    )

    async with httpx.AsyncClient(timeout=20.0) as http:
        step(1, "An operator registers the provincial portal as an integrator")
        key = create_integrator()
        console.print(f"   API key issued (shown once, stored hashed): {key[:14]}…")

        step(2, "The portal submits 张伟's application (POST /v1/applications)")
        answer = await http.post(
            f"{INTAKE}/v1/applications",
            json=APPLICATION,
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
        )
        if answer.status_code != 201:
            raise SystemExit(f"demo failed: intake answered {answer.status_code}: {answer.text}")
        code = answer.json()["application_code"]
        console.print(f"   201 Created — application code [bold]{code}[/]")
        console.print("   the application and its outbox row were committed in one transaction;")
        console.print("   the relay publishes it to Kafka; the bridge starts its workflow")

        step(3, "Shared-data checks replace paper (免证办); public security sees the task")

        async def task() -> dict[str, Any] | None:
            tasks = (await http.get(f"{WORKFLOW}/v1/tasks", headers=police)).json()
            return next((t for t in tasks if t["application_code"] == code), None)

        found = await eventually(task, within=60, what="the department's task")
        details = (await http.get(f"{WORKFLOW}/v1/applications/{code}", headers=police)).json()
        console.print(
            "   only the application form and the household register were uploaded;"
            " the rest was looked up"
            if not details["missing_materials"]
            else f"   still missing: {details['missing_materials']}"
        )
        console.print(
            f"   {found['task_name']} — committed {found['committed_days']} days,"
            f" due {found['due_at'][:10]}{' (provisional)' if found['provisional'] else ''}"
        )

        step(4, "Reviewer ps-0042 approves (a Temporal Update, validated first)")
        decided = await http.post(
            f"{WORKFLOW}/v1/applications/{code}/tasks/public-security/decision",
            json={"outcome": "approved"},
            headers=police,
        )
        if decided.status_code != 200:
            raise SystemExit(
                f"demo failed: decision answered {decided.status_code}: {decided.text}"
            )
        console.print(f"   task {decided.json()['task_state']}")

        step(5, "The tamper-evident timeline kept by tracking (全程留痕)")

        async def timeline() -> dict[str, Any] | None:
            got = await http.get(f"{TRACKING}/v1/applications/{code}/timeline", headers=supervisor)
            if got.status_code != 200:
                return None
            body = got.json()
            types = [entry["type"] for entry in body["entries"]]
            done = any(t.endswith("ApplicationCompleted") for t in types)
            sent = sum(t.endswith("NotificationSent") for t in types)
            return body if done and sent >= 2 else None

        body = await eventually(timeline, within=60, what="the completed timeline")
        table = Table("#", "time (UTC)", "event", "from", "details", "hash")
        for entry in body["entries"]:
            table.add_row(
                str(entry["seq"]),
                entry["time"][11:19],
                entry["type"].rsplit(".", 1)[-1],
                entry["source"].rsplit("/", 1)[-1],
                summary_text(entry["summary"]),
                entry["hash"][:8],
            )
        console.print(table)
        check = (
            await http.get(
                f"{TRACKING}/v1/applications/{code}/timeline/verification", headers=supervisor
            )
        ).json()
        verdict = "[green]intact[/]" if check["intact"] else "[red]BROKEN[/]"
        console.print(f"   hash chain over {check['entries']} entries: {verdict}")

        step(6, "What the applicant received (notify, local SMS provider)")
        notes = (
            await http.get(
                f"{NOTIFY}/v1/notifications", params={"application_code": code}, headers=operations
            )
        ).json()
        for note in notes["deliveries"]:
            console.print(
                f"   {note['channel'].upper()} to {note['recipient_masked']}"
                f" ({note['status']}, {note['segments']} segment(s)): {note['body']}"
            )

        await construction_story(http, key, department_api, supervisor, operations)

    console.print(
        Panel.fit(
            f"Explore: Temporal UI {TEMPORAL_UI}/namespaces/default/workflows/{code}\n"
            f"API docs {INTAKE}/docs · {WORKFLOW}/docs · {TRACKING}/docs · {NOTIFY}/docs\n"
            "Stop everything with: make down",
            title="the system is still running",
        )
    )


async def construction_story(
    http: httpx.AsyncClient,
    key: str,
    department_api: StaffTokens,
    supervisor: dict[str, str],
    operations: dict[str, str],
) -> None:
    """The second story: a construction joint approval (投资项目并联审批) with an
    extension, a return for re-review, a joint on-site inspection and the lead
    department's sign-off."""
    console.print(
        Panel.fit(
            "Second story: a construction joint approval, five departments in parallel",
            style="bold",
        )
    )
    step(7, "A construction company applies once for five departments' permits")
    answer = await http.post(
        f"{INTAKE}/v1/applications",
        json=CONSTRUCTION,
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
    )
    if answer.status_code != 201:
        raise SystemExit(f"demo failed: intake answered {answer.status_code}: {answer.text}")
    code = answer.json()["application_code"]
    console.print(f"   201 Created — application code [bold]{code}[/]")
    tasks = f"{WORKFLOW}/v1/applications/{code}/tasks"
    departments = (
        "development-reform",
        "natural-resources",
        "housing-construction",
        "fire",
        "civil-air-defence",
    )
    reviewers = {d: staff(department_api, f"{d}-01", d, "reviewer") for d in departments}

    async def all_started() -> bool:
        for headers in reviewers.values():
            listed = (await http.get(f"{WORKFLOW}/v1/tasks", headers=headers)).json()
            if not any(t["application_code"] == code for t in listed):
                return False
        return True

    await eventually(all_started, within=60, what="the five departments' tasks")
    console.print(f"   five tasks started at once; {LEAD} leads (牵头部门)")

    async def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        answer = await http.post(f"{tasks}/{path}", json=body, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"demo failed: {path} answered {answer.status_code}: {answer.text}")
        return dict(answer.json())

    step(8, "Fire asks for 10 more working days (延期); its head approves")
    reason = "消防设计需专家论证 / the fire design needs an expert review"
    await post("fire/extension", {"days": 10, "reason": reason}, reviewers["fire"])
    head = staff(department_api, "fire-head", "fire", "department_head")
    await post("fire/extension/decision", {"approved": True, "note": "同意"}, head)
    fire = next(
        t
        for t in (await http.get(f"{WORKFLOW}/v1/tasks", headers=reviewers["fire"])).json()
        if t["application_code"] == code
    )
    console.print(
        f"   fire's task: extended by {fire['extended_days']} days, now due {fire['due_at'][:10]}"
    )

    step(9, "Fire approves; the lead department returns it for re-review (退回重审)")
    await post("fire/decision", {"outcome": "approved"}, reviewers["fire"])
    back = await post(
        "fire/return", {"reason": "消防通道宽度不足 / fire lane too narrow"}, reviewers[LEAD]
    )
    console.print(f"   fire's task is {back['task_state']} again; its clock continues")
    await post("fire/decision", {"outcome": "approved"}, reviewers["fire"])

    step(10, "The lead department calls a joint on-site inspection (联合踏勘)")
    attending = ["housing-construction", "civil-air-defence"]
    called = await http.post(
        f"{WORKFLOW}/v1/applications/{code}/inspections",
        json={
            "department_codes": attending,
            "note": "项目现场, 下周一 9:00 / on site, Monday 9:00",
        },
        headers=reviewers[LEAD],
    )
    if called.status_code != 200:
        raise SystemExit(f"demo failed: inspection answered {called.status_code}: {called.text}")
    for department in attending:
        finding = {"kind": "on_site_inspection", "note": "现场与图纸一致 / as drawn"}
        await post(f"{department}/special-procedure/end", finding, reviewers[department])
    console.print(
        f"   {' and '.join(attending)} attend; their clocks stop on site and run again"
        " with each one's finding"
    )

    step(11, "The other departments approve; the application completes")
    for department in departments:
        if department != "fire":
            await post(f"{department}/decision", {"outcome": "approved"}, reviewers[department])

    async def timeline() -> dict[str, Any] | None:
        got = await http.get(f"{TRACKING}/v1/applications/{code}/timeline", headers=supervisor)
        if got.status_code != 200:
            return None
        body = got.json()
        done = any(e["type"].endswith("ApplicationCompleted") for e in body["entries"])
        return body if done else None

    body = await eventually(timeline, within=60, what="the completed construction timeline")
    kinds = [entry["type"].rsplit(".", 1)[-1] for entry in body["entries"]]
    shown = (
        "ExtensionRequested",
        "ExtensionDecided",
        "TaskReturned",
        "SpecialProcedureStarted",
        "SpecialProcedureEnded",
        "ApplicationCompleted",
    )
    for kind in shown:
        console.print(f"   timeline: {kind} ×{kinds.count(kind)}")
    console.print(f"   {len(kinds)} timeline entries in all")
    notes = (
        await http.get(
            f"{NOTIFY}/v1/notifications", params={"application_code": code}, headers=operations
        )
    ).json()
    for note in notes["deliveries"]:
        if "延期" in note["body"]:
            console.print(f"   SMS to {note['recipient_masked']}: {note['body']}")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except httpx.HTTPError as exc:
        sys.exit(f"demo failed: {type(exc).__name__}: {exc} — is `make up` running?")
