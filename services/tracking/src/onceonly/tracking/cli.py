"""`onceonly-tracking`: the tracking agent (faust worker) and the tracking API."""

from __future__ import annotations

import typer

from onceonly.platform.telemetry import configure_logging, configure_telemetry
from onceonly.tracking.settings import TrackingSettings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@cli.command()
def agent() -> None:
    """Follow every stream topic and record each event on its application's timeline."""
    from onceonly.tracking.agents import run_worker

    settings = TrackingSettings()
    configure_logging("tracking-agent", settings.log_level)
    configure_telemetry("tracking-agent")
    run_worker(settings)


@cli.command()
def api() -> None:
    """Serve the timeline, verification and status API (ONCEONLY_TRACKING_HOST/PORT)."""
    import uvicorn

    from onceonly.tracking.api import create_app

    settings = TrackingSettings()
    configure_logging("tracking-api", settings.log_level)
    configure_telemetry("tracking-api")
    uvicorn.run(
        create_app(settings),
        host=settings.tracking_host,
        port=settings.tracking_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def main() -> None:
    cli()
