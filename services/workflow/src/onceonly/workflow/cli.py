"""`onceonly-workflow`: the worker, the bridge, the department API, staff tokens, and
signed e-licences (published keys, QR codes, the offline verifier)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
import uvicorn
import uvloop

from onceonly.platform.auth import (
    DEPARTMENT_ROLES,
    ROLES,
    StaffApi,
    StaffTokens,
    issue_staff_token,
)
from onceonly.platform.dead_letters import dead_letter_commands
from onceonly.platform.elicence_signatures import Outcome, PublishedKeys, token_of, verify
from onceonly.platform.limits import serve_options
from onceonly.platform.settings import PlatformSettings, SettingsRefused, load_settings
from onceonly.platform.telemetry import configure_logging, configure_telemetry
from onceonly.workflow.bridge import CONSUMER_NAME as BRIDGE_CONSUMER
from onceonly.workflow.settings import ELicenceSigningSettings, WorkflowSettings

_ROLE_HELP = f"Repeatable; one of {', '.join(ROLES)} (default reviewer)"
_API_HELP = "The API the token is for: department (default), tracking or notify"
_HOURS_HELP = "Valid for this long (at most ONCEONLY_STAFF_TOKEN_MAX_HOURS, 12 by default)"

app = typer.Typer(help="Once-Only workflow service.", no_args_is_help=True)
app.add_typer(
    dead_letter_commands(WorkflowSettings, consumers=[BRIDGE_CONSUMER]), name="dead-letters"
)


def _settings(component: str) -> WorkflowSettings:
    settings = load_settings(WorkflowSettings)
    configure_logging(f"workflow-{component}", settings.log_level)
    configure_telemetry("onceonly-workflow")
    return settings


@app.command()
def worker() -> None:
    """Run the Temporal worker (JointApproval workflows and activities)."""
    from onceonly.workflow.worker import run_worker

    # uvloop: 7 % less of the worker's CPU per application than asyncio's own loop
    # (bench.worker_cpu --loop, docs/performance.md).
    uvloop.run(run_worker(_settings("worker")))


@app.command()
def bridge() -> None:
    """Run the Kafka → Temporal bridge (submissions and applicant updates)."""
    from onceonly.workflow.bridge import run_bridge

    asyncio.run(run_bridge(_settings("bridge")))


@app.command()
def api() -> None:
    """Serve the department API."""
    from onceonly.workflow.api import create_app

    settings = _settings("api")
    uvicorn.run(
        create_app(settings),
        host=settings.workflow_api_host,
        port=settings.workflow_api_port,
        log_config=None,
        access_log=False,
        **serve_options(
            header_seconds=settings.api_header_timeout_seconds,
            keep_alive_seconds=settings.api_keep_alive_seconds,
        ),
    )


@app.command("seed-registry")
def seed_registry_command() -> None:
    """Load the demonstration base registry (people, companies, properties, ...).

    Stands in for the provincial data platform locally; idempotent."""
    from onceonly.platform.db import create_pool, prepare_database
    from onceonly.workflow.registry import seed_registry

    settings = load_settings(WorkflowSettings)

    async def run() -> None:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="workflow", package="onceonly.workflow")
            counts = await seed_registry(pool, hmac_key=settings.registry_hmac_key())
        finally:
            await pool.close()
        typer.echo(f"base registry seeded: {counts}")

    asyncio.run(run())


@app.command("register-search-attributes")
def register_search_attributes() -> None:
    """Register on the Temporal namespace the search attributes the workflows set, those
    it lacks (before the first worker starts on a new cluster; idempotent)."""
    from onceonly.workflow.search_attributes import register
    from onceonly.workflow.temporal import connect

    settings = load_settings(WorkflowSettings)

    async def run() -> list[str]:
        client = await connect(settings)
        return await register(client, settings.temporal_namespace)

    added = asyncio.run(run())
    typer.echo(f"search attributes added: {', '.join(added) if added else 'none (all exist)'}")


@app.command("recompute-deadlines")
def recompute_deadlines() -> None:
    """Tell every running application that the calendar changed (after a new year's
    notice was put in ONCEONLY_CALENDAR_DIR and the workers restarted): provisional
    deadlines are recomputed."""
    from onceonly.workflow.shared import WORKFLOW_NAME, CalendarUpdate
    from onceonly.workflow.temporal import connect
    from onceonly.workflow.workflows import JointApproval

    settings = load_settings(WorkflowSettings)

    async def run() -> int:
        client = await connect(settings)
        query = f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
        told = 0
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id)
            await handle.signal(JointApproval.calendar_updated, CalendarUpdate("calendar updated"))
            told += 1
        return told

    typer.echo(f"applications told to recompute their deadlines: {asyncio.run(run())}")


@app.command("backfill-task-list")
def backfill_task_list() -> None:
    """Put every running application the department task list lacks into it, from each
    one's snapshot query (applications started before the list existed show otherwise
    only with their next event). Rows the workers wrote are never overwritten."""
    from onceonly.platform.db import create_pool, prepare_database
    from onceonly.workflow.shared import WORKFLOW_NAME, ApplicationSnapshot
    from onceonly.workflow.task_list import PostgresTaskList
    from onceonly.workflow.task_list_backfill import BackfillResult, backfill
    from onceonly.workflow.temporal import connect
    from onceonly.workflow.workflows import JointApproval

    settings = load_settings(WorkflowSettings)

    def shown(result: BackfillResult) -> None:
        done = result.recorded + result.failed
        if done % 50 == 0:
            typer.echo(f"  {done} applications ({result.failed} failed)", err=True)

    async def run() -> BackfillResult:
        client = await connect(settings)
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="workflow", package="onceonly.workflow")
            # Only this deployment's queue: a workflow on a queue no worker polls (a test's)
            # would hold its query until the timeout.
            query = (
                f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
                f" AND TaskQueue = '{settings.temporal_task_queue}'"
            )

            async def codes() -> AsyncIterator[str]:
                async for execution in client.list_workflows(query):
                    yield execution.id

            async def snapshot(code: str) -> ApplicationSnapshot:
                handle = client.get_workflow_handle(code)
                return await handle.query(JointApproval.snapshot, rpc_timeout=timedelta(seconds=10))

            return await backfill(codes(), snapshot, PostgresTaskList(pool), progress=shown)
        finally:
            await pool.close()

    result = asyncio.run(run())
    typer.echo(f"task list backfilled: {result.recorded} applications, {result.failed} failed")
    if result.failed:
        raise typer.Exit(1)


@app.command()
def token(
    staff_id: str = typer.Option(..., "--staff", help="Staff id, e.g. ps-0042"),
    department: str = typer.Option(..., "--department", help="Department code"),
    role: list[str] | None = typer.Option(None, "--role", help=_ROLE_HELP),
    api: str = typer.Option("department", "--api", help=_API_HELP),
    hours: float = typer.Option(12.0, "--hours", min=0.1, help=_HOURS_HELP),
) -> None:
    """Print a signed staff token for one API (department staff, supervision and
    operations), signed with that API's current key (ONCEONLY_<API>_API_TOKEN_KEYS)."""
    from onceonly.catalogue import is_department

    if api.upper() not in StaffApi.__members__:
        raise typer.BadParameter(f"unknown API {api!r}; {_API_HELP}", param_hint="--api")
    audience = StaffApi[api.upper()]
    roles = tuple(role or ["reviewer"])
    settings = load_settings(PlatformSettings)
    if hours > settings.staff_token_max_hours:
        raise typer.BadParameter(
            f"at most ONCEONLY_STAFF_TOKEN_MAX_HOURS={settings.staff_token_max_hours:g}; "
            "the APIs refuse longer-lived tokens",
            param_hint="--hours",
        )
    if set(roles) & set(DEPARTMENT_ROLES) and not is_department(department):
        raise typer.BadParameter(
            f"no department {department!r} in the catalogue", param_hint="--department"
        )
    tokens = load_settings(lambda: StaffTokens.from_settings(settings, audience))
    typer.echo(
        issue_staff_token(
            tokens.keys,
            api=audience,
            staff_id=staff_id,
            department_code=department,
            roles=roles,
            ttl=timedelta(hours=hours),
        )
    )


@app.command("codec-proxy")
def codec_proxy(
    ui_origin: str = typer.Option(
        ..., "--ui-origin", help="Temporal Web UI's origin, e.g. http://127.0.0.1:8233"
    ),
    port: int = typer.Option(8888, "--port", min=1, max=65535, help="Port on 127.0.0.1"),
    api_url: str = typer.Option(
        "http://127.0.0.1:8001", "--api-url", help="The department API (its base URL)"
    ),
    token_file: str | None = typer.Option(
        None,
        "--token-file",
        help="File holding a department-API token (operations or supervision), read at"
        " each call; or ONCEONLY_CODEC_PROXY_TOKEN. Never on the command line.",
    ),
) -> None:
    """Serve Temporal Web UI's codec endpoint on loopback: CORS for the UI's origin only,
    /decode and /encode forwarded to the department API's /v1/temporal-codec with the
    operator's token."""
    import os

    from onceonly.workflow.codec_proxy import (
        LOOPBACK,
        CodecProxyConfig,
        CodecProxyError,
        create_codec_proxy,
        token_reader,
    )
    from onceonly.workflow.codec_proxy import ui_origin as parse_origin

    configure_logging("workflow-codec-proxy", os.environ.get("ONCEONLY_LOG_LEVEL", "INFO"))
    try:
        config = CodecProxyConfig(
            api_url=api_url,
            ui_origin=parse_origin(ui_origin),
            token=token_reader(token_file, os.environ.get("ONCEONLY_CODEC_PROXY_TOKEN")),
        )
    except (CodecProxyError, OSError) as exc:
        typer.echo(f"onceonly-workflow codec-proxy: refusing to start: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"Temporal UI codec endpoint: http://{LOOPBACK}:{port} (for {config.ui_origin})", err=True
    )
    uvicorn.run(
        create_codec_proxy(config), host=LOOPBACK, port=port, log_config=None, access_log=False
    )


elicence_app = typer.Typer(
    help="Signed e-licences: published keys, QR codes, offline verification.",
    no_args_is_help=True,
)
app.add_typer(elicence_app, name="elicence")

_OFFLINE_NOTE = (
    "offline: revocations are not known unless a revocation list is given (--revoked);"
    " verify online for the current status"
)


@elicence_app.command("public-keys")
def elicence_public_keys(
    out: Path | None = typer.Option(None, "--out", help="Write here instead of stdout"),
) -> None:
    """Print the published keys (key id -> Ed25519 public key) that verify e-licences: the
    signing ring's and the retired ones (ONCEONLY_ELICENCE_RETIRED_PUBLIC_KEYS_FILE)."""
    settings = load_settings(ELicenceSigningSettings)
    try:
        published = settings.published_elicence_keys()
    except SettingsRefused as exc:
        raise SystemExit(f"onceonly-workflow: {exc}") from None
    text = json.dumps(published.to_json(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@elicence_app.command("qr")
def elicence_qr(
    token: str = typer.Argument(..., help="The licence's token (workflow.elicences.token)"),
    png: Path | None = typer.Option(None, "--png", help="Write a PNG here"),
    svg: Path | None = typer.Option(None, "--svg", help="Write an SVG here"),
) -> None:
    """Render a licence's QR code (its payload: ONCEONLY_ELICENCE_VERIFICATION_URL?t=TOKEN,
    or the bare token), and print the payload."""
    from onceonly.workflow.elicence_qr import qr_payload, qr_png, qr_svg

    settings = load_settings(ELicenceSigningSettings)
    payload = qr_payload(token, verification_url=settings.elicence_verification_url)
    if png is not None:
        png.write_bytes(qr_png(payload))
    if svg is not None:
        svg.write_text(qr_svg(payload), encoding="utf-8")
    typer.echo(payload)


@elicence_app.command("verify")
def elicence_verify(
    scanned: str = typer.Argument(..., help="The token, or the QR code's URL"),
    keys: Path = typer.Option(..., "--keys", help="The published keys (JSON)"),
    revoked: Path | None = typer.Option(
        None, "--revoked", help="A revocation list: licence numbers, one per line"
    ),
) -> None:
    """Verify an e-licence offline with the published keys: genuine, revoked, expired or
    unknown, and what the licence shows. Exit status 0 only for genuine."""
    try:
        published = PublishedKeys.from_json(json.loads(keys.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"not a published keys file: {exc}", param_hint="--keys") from None
    numbers: list[str] = []
    if revoked is not None:
        lines = revoked.read_text(encoding="utf-8").splitlines()
        numbers = [line.strip() for line in lines if line.strip()]
    answer = verify(token_of(scanned), published, now=datetime.now(UTC), revoked=numbers)
    body = answer.to_json()
    body["revocations"] = (
        f"checked against {revoked.name} ({len(numbers)} numbers)" if revoked else _OFFLINE_NOTE
    )
    typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    raise typer.Exit(0 if answer.outcome is Outcome.GENUINE else 1)


def main() -> None:
    app()
