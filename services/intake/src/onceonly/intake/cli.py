"""`onceonly-intake`: the API, the outbox relay, and the administration of integrators."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import typer
import uvicorn

from onceonly.catalogue.jurisdictions import default_jurisdictions
from onceonly.intake.approval_follower import CONSUMER_NAME as APPROVALS_CONSUMER
from onceonly.intake.errors import UnknownApiKey, UnknownIntegrator
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import IntegratorStore
from onceonly.intake.work_orders import HOTLINE
from onceonly.platform.apikeys import NewApiKey
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.dead_letters import dead_letter_commands
from onceonly.platform.metrics import ConsumerGroup, ConsumerLagMonitor, serve_metrics
from onceonly.platform.settings import load_settings
from onceonly.platform.telemetry import configure_logging, configure_telemetry
from onceonly.platform.topics import Stream, topic_name

T = TypeVar("T")

app = typer.Typer(help="Once-Only intake service.", no_args_is_help=True)
integrator_app = typer.Typer(help="Integrators and their API keys.", no_args_is_help=True)
app.add_typer(integrator_app, name="integrator")
app.add_typer(
    dead_letter_commands(IntakeSettings, consumers=[APPROVALS_CONSUMER]), name="dead-letters"
)


CAPABILITIES = (HOTLINE,)


def _settings(component: str) -> IntakeSettings:
    settings = load_settings(IntakeSettings)
    configure_logging(f"intake-{component}", settings.log_level)
    configure_telemetry("onceonly-intake")
    return settings


@app.command()
def api() -> None:
    """Serve the integrator API (applies pending migrations at start-up)."""
    from onceonly.intake.api import create_app

    settings = _settings("api")
    common = server_options(settings)
    if settings.intake_workers == 1:
        served = create_app(settings)
        _freeze_startup_objects()
        uvicorn.run(served, **common)  # type: ignore[arg-type]
    else:
        # Worker processes import the app themselves (and set up their own logging).
        uvicorn.run(
            "onceonly.intake.cli:worker_app",
            factory=True,
            workers=settings.intake_workers,
            # The supervisor restarts a worker that does not answer its ping in time;
            # the default 5 s is less than a worker's start-up on a loaded machine.
            timeout_worker_healthcheck=30,
            **common,  # type: ignore[arg-type]
        )


def server_options(settings: IntakeSettings) -> dict[str, object]:
    """uvicorn's options for the API (the tests serve it with the same ones)."""
    return {
        "host": settings.intake_host,
        "port": settings.intake_port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        # The C event loop and HTTP parser (dependencies of intake) instead of asyncio's
        # selector loop and the pure-Python h11.
        "loop": "uvloop",
        "http": "httptools",
        # uvicorn would believe X-Forwarded-For from loopback (FORWARDED_ALLOW_IPS) and
        # hand the routes a forged client address; the app decides, from
        # ONCEONLY_TRUSTED_PROXIES (onceonly/intake/client_address.py).
        "proxy_headers": False,
    }


def worker_app() -> object:
    """The API of one uvicorn worker process (ONCEONLY_INTAKE_WORKERS > 1)."""
    from onceonly.intake.api import create_app

    served = create_app(_settings("api"))
    _freeze_startup_objects()
    return served


def _freeze_startup_objects() -> None:
    """Move what start-up made (modules, the app, its routes, models and schemas; they
    live as long as the process) out of the garbage collector's reach, so that its full
    collections under load walk only the requests' objects (tail latency)."""
    gc.collect()
    gc.freeze()


@app.command()
def relay() -> None:
    """Publish the outbox to Kafka and follow the approval events until stopped (SIGTERM
    or Ctrl-C); with ONCEONLY_RELAY_METRICS_PORT, serve their metrics."""
    from onceonly.intake.relay import run_relay

    settings = _settings("relay")
    if settings.relay_metrics_port <= 0:
        asyncio.run(_until_signalled(run_relay(settings)))
        return
    serve_metrics(settings.relay_metrics_port, host=settings.intake_host, process="intake-relay")
    asyncio.run(_until_signalled(_with_follower_lag(run_relay(settings), settings)))


async def _with_follower_lag(work: Awaitable[None], settings: IntakeSettings) -> None:
    """`work`, measuring the approval follower's consumer lag meanwhile. Intake's follower
    runs in the relay process, so the relay's endpoint reports its lag."""
    lag = ConsumerLagMonitor(
        settings.kafka_bootstrap,
        [
            ConsumerGroup(
                APPROVALS_CONSUMER,
                settings.approvals_consumer_group,
                [topic_name(settings.topic_prefix, Stream.APPROVAL_EVENTS)],
            )
        ],
    )
    measuring = asyncio.create_task(lag.run(settings.metrics_refresh_seconds))
    try:
        await work
    finally:
        measuring.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await measuring


async def _until_signalled(work: Awaitable[None]) -> None:
    """Run `work`; SIGTERM and SIGINT cancel it, so that it closes its connections."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    # A cancelled relay has closed its connections; that is a clean stop.
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _admin_logging(settings: IntakeSettings) -> None:
    # Admin commands print results on stdout (JSON for scripts): logs go to stderr. The
    # process's own stderr: a replaced sys.stderr (CliRunner in tests) is closed later,
    # and the logging configuration outlives the command.
    configure_logging("intake-admin", settings.log_level, stream=sys.__stderr__)


def _with_store(action: Callable[[IntegratorStore], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = load_settings(IntakeSettings)
        _admin_logging(settings)
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            # The tables exist before the first command touches them.
            await prepare_database(pool, component="intake", package="onceonly.intake")
            return await action(IntegratorStore(pool))
        finally:
            await pool.close()

    return asyncio.run(run())


def _print_key(key: NewApiKey, *, integrator_id: str, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps({"integrator_id": integrator_id, "key_id": key.key_id, "api_key": key.token})
        )
    else:
        typer.echo(f"integrator_id: {integrator_id}")
        typer.echo(f"key_id:        {key.key_id}")
        typer.echo(f"api_key:       {key.token}")
    typer.echo("Store the API key now: it is not kept and cannot be shown again.", err=True)


_JSON = typer.Option(False, "--json", help="Print one JSON object (for scripts)")


@integrator_app.command("create")
def integrator_create(
    name: str = typer.Argument(..., help="e.g. 浙里办 portal"),
    reuse: bool = typer.Option(
        False, "--reuse", help="If the name exists, give that integrator a new key instead"
    ),
    as_json: bool = _JSON,
) -> None:
    """Register an integrator; prints its id and a first API key (shown only once)."""
    name = name.strip()
    if not name:
        raise typer.BadParameter("the name must not be empty", param_hint="NAME")

    async def create(store: IntegratorStore) -> tuple[str, NewApiKey]:
        return await (store.key_for(name) if reuse else store.create_integrator(name))

    try:
        integrator_id, key = _with_store(create)
    except asyncpg.UniqueViolationError:
        typer.echo(f"An integrator named {name!r} exists already (see --reuse).", err=True)
        raise typer.Exit(1) from None
    _print_key(key, integrator_id=integrator_id, as_json=as_json)


@integrator_app.command("key-create")
def key_create(
    integrator_id: str = typer.Argument(..., help="The integrator's id"),
    as_json: bool = _JSON,
) -> None:
    """Create another API key for an integrator (e.g. to rotate keys); shown only once."""
    try:
        key = _with_store(lambda store: store.create_key(integrator_id))
    except UnknownIntegrator:
        typer.echo(f"No integrator {integrator_id!r}.", err=True)
        raise typer.Exit(1) from None
    _print_key(key, integrator_id=integrator_id, as_json=as_json)


@integrator_app.command("grant")
def integrator_grant(
    integrator_id: str = typer.Argument(..., help="The integrator's id"),
    capability: str = typer.Argument(..., help="`hotline`: may file 12345 work orders"),
) -> None:
    """Grant an integrator a capability (`hotline` files 12345 work orders)."""
    if capability not in CAPABILITIES:
        typer.echo(
            f"Unknown capability {capability!r}; one of {', '.join(CAPABILITIES)}.", err=True
        )
        raise typer.Exit(2)
    try:
        _with_store(lambda store: store.grant(integrator_id, capability))
    except UnknownIntegrator:
        typer.echo(f"No integrator {integrator_id!r}.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"granted {capability} to {integrator_id}")


@integrator_app.command("region")
def integrator_region(
    integrator_id: str = typer.Argument(..., help="The integrator's id"),
    region_code: str = typer.Argument(
        ..., help="The division of its service centre (GB/T 2260, or nine digits); '-' unsets"
    ),
) -> None:
    """Set where an integrator's applications are submitted (全省通办: they still go to
    the division that decides them)."""
    region = None if region_code == "-" else region_code
    if region is not None and region not in default_jurisdictions():
        typer.echo(f"No division {region!r} in the province's jurisdictions.", err=True)
        raise typer.Exit(2)
    try:
        _with_store(lambda store: store.set_region(integrator_id, region))
    except UnknownIntegrator:
        typer.echo(f"No integrator {integrator_id!r}.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{integrator_id} submits in {region or 'the intake region'}")


@integrator_app.command("key-revoke")
def key_revoke(key_id: str = typer.Argument(..., help="The key id (the part after oo_)")) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    try:
        revoked_at = _with_store(lambda store: store.revoke_key(key_id))
    except UnknownApiKey:
        typer.echo(f"No API key {key_id!r}.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {key_id} at {revoked_at.isoformat()}")


@integrator_app.command("list")
def integrator_list() -> None:
    """List integrators and their keys (ids and state, never secrets)."""
    integrators = _with_store(lambda store: store.integrators())
    if not integrators:
        typer.echo("No integrators yet: onceonly-intake integrator create NAME")
        return
    for integrator in integrators:
        typer.echo(f"{integrator.id}  {integrator.name}  (since {integrator.created_at:%Y-%m-%d})")
        for key in integrator.keys:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            typer.echo(f"    key {key.key_id}  created {key.created_at:%Y-%m-%d %H:%M}  {state}")


@app.command("reseal-pii")
def reseal_pii(
    integrator_id: str | None = typer.Option(
        None, "--integrator", help="Only this integrator's applications (e.g. to try first)"
    ),
) -> None:
    """Seal stored personal data again under the first key of ONCEONLY_PII_KEYS, so that
    the keys after it can be retired (run after putting a new key first)."""
    from onceonly.intake.pii_rotation import reseal_applications
    from onceonly.platform.pii import PiiError, PiiSealer

    settings = load_settings(IntakeSettings)
    _admin_logging(settings)
    sealer = PiiSealer(settings.pii_keys.get_secret_value())

    async def run() -> int:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="intake", package="onceonly.intake")
            return await reseal_applications(pool, sealer, integrator_id=integrator_id)
        finally:
            await pool.close()

    try:
        count = asyncio.run(run())
    except PiiError as exc:
        typer.echo(f"Stopped: {exc}. Configure the retired key again and rerun.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"resealed {count} applications under key {sealer.primary_key_id!r}")


@app.command("reseal-uploads")
def reseal_uploads(
    integrator_id: str | None = typer.Option(
        None, "--integrator", help="Only this integrator's uploads (e.g. to try first)"
    ),
) -> None:
    """Encrypt stored materials again under the first key of ONCEONLY_PII_KEYS: those
    under an older key, and those stored before uploads were encrypted."""
    from onceonly.intake.upload_crypto import UploadCipher, UploadDecryptionError
    from onceonly.intake.upload_store import UploadStore

    settings = load_settings(IntakeSettings)
    _admin_logging(settings)
    cipher = UploadCipher.from_pii_keys(settings.pii_keys.get_secret_value())

    async def run() -> int:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="intake", package="onceonly.intake")
            return await UploadStore(pool, cipher).reseal(integrator_id=integrator_id)
        finally:
            await pool.close()

    try:
        count = asyncio.run(run())
    except UploadDecryptionError as exc:
        typer.echo(f"Stopped: {exc}. Configure the retired key again and rerun.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"resealed {count} uploads under key {cipher.current_key_id!r}")


@app.command("reseal-forms")
def reseal_forms(
    integrator_id: str | None = typer.Option(
        None, "--integrator", help="Only this integrator's applications (e.g. to try first)"
    ),
) -> None:
    """Seal the personal fields (x-personal in the matter's form schema) of application
    forms stored in plain text before form schemas existed. Safe to stop and run again:
    fields already sealed are left alone."""
    from onceonly.catalogue import default_catalogue
    from onceonly.intake.form_sealing import seal_stored_forms
    from onceonly.platform.pii import PiiSealer

    settings = load_settings(IntakeSettings)
    _admin_logging(settings)
    sealer = PiiSealer(settings.pii_keys.get_secret_value())

    def progress(done: int, total: int) -> None:
        typer.echo(f"sealed {done} of {total} applications", err=True)

    async def run() -> int:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="intake", package="onceonly.intake")
            return await seal_stored_forms(
                pool,
                sealer,
                default_catalogue(),
                integrator_id=integrator_id,
                progress=progress,
            )
        finally:
            await pool.close()

    count = asyncio.run(run())
    typer.echo(f"sealed the forms of {count} applications under key {sealer.primary_key_id!r}")


def main() -> None:
    app()
