"""`onceonly-notify`: the notify process (approval-events consumer + HTTP API)."""

from __future__ import annotations

import typer

from onceonly.notify.settings import NotifySettings
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

    settings = NotifySettings()
    configure_logging("notify", settings.log_level)
    configure_telemetry("onceonly-notify")
    uvicorn.run(
        create_app(settings),
        host=settings.notify_host,
        port=settings.notify_port,
        log_config=None,
        access_log=False,
    )


def main() -> None:
    app()
