"""`onceonly-tracking`: the tracking agent (faust worker) and the tracking API."""

from __future__ import annotations

import typer

from onceonly.platform.dead_letters import dead_letter_commands
from onceonly.platform.settings import load_settings
from onceonly.platform.telemetry import configure_logging, configure_telemetry
from onceonly.tracking.processing import CONSUMER_NAME as TRACKING_CONSUMER
from onceonly.tracking.settings import TrackingSettings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
cli.add_typer(
    dead_letter_commands(TrackingSettings, consumers=[TRACKING_CONSUMER]), name="dead-letters"
)


@cli.command()
def agent() -> None:
    """Follow every stream topic and record each event on its application's timeline."""
    from onceonly.tracking.agents import run_worker

    settings = load_settings(TrackingSettings)
    configure_logging("tracking-agent", settings.log_level)
    configure_telemetry("onceonly-tracking")
    run_worker(settings)


@cli.command()
def api() -> None:
    """Serve the timeline, verification and status API (ONCEONLY_TRACKING_HOST/PORT)."""
    import uvicorn

    from onceonly.platform.limits import serve_options
    from onceonly.tracking.api import create_app

    settings = load_settings(TrackingSettings)
    configure_logging("tracking-api", settings.log_level)
    configure_telemetry("onceonly-tracking")
    uvicorn.run(
        create_app(settings),
        host=settings.tracking_host,
        port=settings.tracking_port,
        log_level=settings.log_level.lower(),
        **serve_options(
            header_seconds=settings.api_header_timeout_seconds,
            keep_alive_seconds=settings.api_keep_alive_seconds,
        ),
        log_config=None,  # uvicorn's lines go through the JSON logging set up above
        access_log=False,
    )


@cli.command("rebuild-status")
def rebuild_status() -> None:
    """Recompute every application's status projection from its recorded timeline."""
    import asyncio

    from onceonly.platform.db import create_pool, prepare_database
    from onceonly.tracking.store import TrackingStore

    settings = load_settings(TrackingSettings)
    configure_logging("tracking-rebuild", settings.log_level)

    async def run() -> int:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="tracking", package="onceonly.tracking")
            return await TrackingStore(pool).rebuild_status()
        finally:
            await pool.close()

    typer.echo(f"rebuilt the status of {asyncio.run(run())} applications")


def main() -> None:
    cli()
