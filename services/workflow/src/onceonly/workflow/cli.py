"""`onceonly-workflow`: the worker, the bridge, the department API, and staff tokens."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import typer
import uvicorn

from onceonly.platform.auth import (
    DEPARTMENT_ROLES,
    ROLES,
    StaffApi,
    StaffTokens,
    issue_staff_token,
)
from onceonly.platform.dead_letters import dead_letter_commands
from onceonly.platform.settings import PlatformSettings, load_settings
from onceonly.platform.telemetry import configure_logging, configure_telemetry
from onceonly.workflow.bridge import CONSUMER_NAME as BRIDGE_CONSUMER
from onceonly.workflow.settings import WorkflowSettings

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

    asyncio.run(run_worker(_settings("worker")))


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


def main() -> None:
    app()
