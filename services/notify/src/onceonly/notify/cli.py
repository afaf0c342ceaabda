"""`onceonly-notify`: the notify process (approval-events consumer + HTTP API)."""

from __future__ import annotations

import typer

from onceonly.notify.runtime import CONSUMER_NAME as NOTIFY_CONSUMER
from onceonly.notify.settings import NotifySettings
from onceonly.platform.dead_letters import dead_letter_commands
from onceonly.platform.settings import load_settings
from onceonly.platform.telemetry import configure_logging, configure_telemetry

app = typer.Typer(help="Once-Only notify service.", no_args_is_help=True, add_completion=False)


@app.callback()
def _group() -> None:
    """Once-Only notify service."""
    # A callback keeps `run` a subcommand: a one-command typer app would otherwise take
    # the command's place and reject `onceonly-notify run`.


@app.command()
def run() -> None:
    """Consume approval events, notify applicants, and serve /health, /metrics and
    /v1/notifications on ONCEONLY_NOTIFY_HOST:ONCEONLY_NOTIFY_PORT (127.0.0.1:8003)."""
    import uvicorn

    from onceonly.notify.api import create_app
    from onceonly.platform.limits import serve_options

    settings = load_settings(NotifySettings)
    configure_logging("notify", settings.log_level)
    configure_telemetry("onceonly-notify")
    uvicorn.run(
        create_app(settings),
        host=settings.notify_host,
        port=settings.notify_port,
        **serve_options(
            header_seconds=settings.api_header_timeout_seconds,
            keep_alive_seconds=settings.api_keep_alive_seconds,
        ),
        log_config=None,
        access_log=False,
    )


webhook_app = typer.Typer(help="Integrator webhooks.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")
app.add_typer(
    dead_letter_commands(NotifySettings, consumers=[NOTIFY_CONSUMER]), name="dead-letters"
)


@webhook_app.command("set")
def webhook_set(integrator_id: str, url: str) -> None:
    """Register (or replace) INTEGRATOR_ID's webhook URL with a fresh signing secret;
    prints the key id and the secret, which is shown only this once. The URL must be
    https:// to a public host (docs/security.md)."""
    import asyncio

    from onceonly.notify.errors import WebhookUrlRefused
    from onceonly.notify.webhook_delivery import register_webhook
    from onceonly.notify.webhook_store import WebhookStore
    from onceonly.notify.webhook_urls import parse_webhook_url
    from onceonly.platform.db import create_pool, prepare_database
    from onceonly.platform.pii import PiiSealer

    settings = load_settings(NotifySettings)
    try:
        accepted = parse_webhook_url(url, settings.webhook_destinations)
    except WebhookUrlRefused as exc:
        typer.echo(f"error: {exc.reason}", err=True)
        raise typer.Exit(2) from None

    async def register() -> tuple[str, str]:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="notify", package="onceonly.notify")
            sealer = PiiSealer(settings.pii_keys.get_secret_value())
            return await register_webhook(WebhookStore(pool), sealer, integrator_id, accepted)
        finally:
            await pool.close()

    key_id, secret = asyncio.run(register())
    typer.echo(f"integrator: {integrator_id}")
    typer.echo(f"url: {accepted.url}")
    typer.echo(f"key id: {key_id}")
    typer.echo(f"secret: {secret}")


@webhook_app.command("delete")
def webhook_delete(
    integrator_id: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="delete without asking"),
) -> None:
    """Delete INTEGRATOR_ID's webhook registration (URL and signing secret): nothing more
    is sent to it, and its pending deliveries fail on their next attempt. Exit code 1 when
    it had none."""
    import asyncio

    from onceonly.notify.webhook_store import WebhookStore
    from onceonly.platform.db import create_pool, prepare_database

    settings = load_settings(NotifySettings)
    if not yes:
        typer.confirm(f"Delete the webhook of {integrator_id}?", abort=True)

    async def delete() -> bool:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="notify", package="onceonly.notify")
            return await WebhookStore(pool).delete_webhook(integrator_id)
        finally:
            await pool.close()

    if not asyncio.run(delete()):
        typer.echo(f"error: {integrator_id} has no webhook", err=True)
        raise typer.Exit(1)
    typer.echo(f"deleted the webhook of {integrator_id}")


@app.command("staff-check")
def staff_check(
    path: str = typer.Argument("", help="a staff.yaml; default: the shipped one"),
) -> None:
    """Validate a staff directory (who hears of supervision alerts) and summarise it,
    without showing any number."""
    from onceonly.notify.staff import DirectoryError, load_directory

    try:
        directory = load_directory(path)
    except (DirectoryError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for code, people in sorted(directory.departments.items()):
        kinds = sorted({kind for person in people for kind in person.alerts})
        typer.echo(f"{code}: {len(people)} contact(s), alerts {', '.join(kinds)}")
    typer.echo(f"supervision office: {len(directory.supervision_office)} contact(s)")


def main() -> None:
    app()
