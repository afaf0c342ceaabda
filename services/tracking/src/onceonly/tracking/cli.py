"""`onceonly-tracking`: the tracking agent (faust worker) and the tracking API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from onceonly.platform.dead_letters import dead_letter_commands
from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.secrets import SettingsRefused
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
    if settings.tracking_checkpoint_seconds > 0:
        _signing_ring(settings)  # refused here, in one line, rather than in the worker
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


@cli.command("staff-add")
def staff_add(
    staff_id: str,
    name: Annotated[str, typer.Option(help="the name shown in the console")],
    department: Annotated[str, typer.Option(help="department or office code")],
    role: Annotated[list[str], typer.Option(help="reviewer, department_head, window, ...")],
    region: Annotated[
        str,
        typer.Option(help="the division worked for (GB/T 2260 code); none: the whole province"),
    ] = "",
) -> None:
    """Add a staff member to the console's staff directory, or replace one (a new
    password unlocks it). The password is read from standard input (one line), never
    from the command line."""
    import asyncio
    import sys

    from onceonly.catalogue import is_department
    from onceonly.catalogue.jurisdictions import default_jurisdictions
    from onceonly.platform.auth import DEPARTMENT_ROLES
    from onceonly.platform.db import create_pool, prepare_database
    from onceonly.platform.staff_directory import StaffDirectory

    settings = load_settings(TrackingSettings)
    if set(role) & set(DEPARTMENT_ROLES) and not is_department(department):
        raise typer.BadParameter(f"{department} is not a department of the catalogue")
    if region and region not in default_jurisdictions():
        raise typer.BadParameter(f"no division {region!r} in the province's jurisdictions")
    password = sys.stdin.readline().rstrip("\n")

    async def run() -> None:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await prepare_database(pool, component="tracking", package="onceonly.tracking")
            await StaffDirectory(pool).put(
                staff_id=staff_id,
                display_name=name,
                department_code=department,
                roles=tuple(role),
                password=password,
                region=region,
            )
        finally:
            await pool.close()

    try:
        asyncio.run(run())
    except ValueError as refused:
        raise typer.BadParameter(str(refused)) from None
    scope = f" in {region}" if region else ""
    typer.echo(f"staff {staff_id} may sign in to the console as {', '.join(role)}{scope}")


@cli.command()
def checkpoint() -> None:
    """Sign a checkpoint over every timeline's chain head now, store it and publish it
    (with any stored one not yet published); the agent does this once per cadence slot."""
    import asyncio
    from datetime import UTC, datetime

    from onceonly.platform.db import create_pool, prepare_database
    from onceonly.platform.kafka import build_producer, ensure_topics, wait_for_kafka
    from onceonly.tracking.checkpoint_store import CheckpointStore
    from onceonly.tracking.checkpoints import Checkpointer, Round, checkpoint_topic

    settings = load_settings(TrackingSettings)
    configure_logging("tracking-checkpoint", settings.log_level)
    ring = _signing_ring(settings)
    keys = settings.checkpoint_public_keys() or ring.published()
    topic = checkpoint_topic(settings.topic_prefix)

    async def run() -> Round:
        pool = await create_pool(settings.database_url, max_size=2)
        producer = build_producer(settings.kafka_bootstrap, client_id="onceonly-tracking-cli")
        try:
            await prepare_database(pool, component="tracking", package="onceonly.tracking")
            await wait_for_kafka(settings.kafka_bootstrap)
            await ensure_topics(settings.kafka_bootstrap, [topic])
            await producer.start()
            checkpointer = Checkpointer(
                CheckpointStore(pool),
                producer,
                topic=topic,
                signer=ring.current,
                keys=keys,
                keep_leaves=settings.tracking_checkpoint_keep_leaves,
            )
            # A slot of its own (the instant): not skipped because the agent made its slot's.
            now = datetime.now(UTC)
            return await checkpointer.run_once(now=now, slot=now)
        finally:
            await producer.stop()
            await pool.close()

    done = asyncio.run(run())
    if done.made is None:
        typer.echo("no checkpoint made: no chain head moved since the last one")
    else:
        made = done.made.payload
        typer.echo(f"checkpoint {made.number}: {made.size} applications, root {made.root}")
        if done.made.held_back:
            typer.echo(
                f"{len(done.made.held_back)} heads did not extend the last checkpoint (kept"
                f" as signed): {', '.join(done.made.held_back[:10])}"
            )
    typer.echo(f"published to {topic}: {list(done.published) or 'nothing new'}")


@cli.command("checkpoint-keys")
def checkpoint_keys() -> None:
    """Print the checkpoint signing ring's public keys (JSON), for verifiers."""
    import json

    settings = load_settings(TrackingSettings)
    ring = _signing_ring(settings)
    typer.echo(json.dumps(ring.published().to_json(), indent=2))


Output = Annotated[Path | None, typer.Option("--output", "-o", help="a file; none or -: stdout")]


@cli.command("export-timeline")
def export_timeline(
    code: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file; - or none: stdout")
    ] = None,
) -> None:
    """Write an application's timeline as JSON, every entry as its hash covers it (the
    event's bytes as their sha256: no sealed personal data leaves)."""
    import asyncio

    from onceonly.platform.db import create_pool
    from onceonly.tracking.errors import ApplicationNotFound
    from onceonly.tracking.store import TrackingStore
    from onceonly.tracking.timeline_export import export_timeline as exported

    settings = load_settings(TrackingSettings)

    async def run() -> dict[str, Any]:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            return exported(code, await TrackingStore(pool).chain_entries(code))
        finally:
            await pool.close()

    try:
        document = asyncio.run(run())
    except ApplicationNotFound:
        raise SystemExit(f"no timeline of {code} is recorded") from None
    _write(document, output)


@cli.command("export-checkpoint")
def export_checkpoint(
    code: Annotated[
        str | None, typer.Argument(help="the application to include the proof of")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file; - or none: stdout")
    ] = None,
) -> None:
    """Write the latest signed checkpoint as JSON, with CODE's inclusion proof."""
    import asyncio

    from onceonly.platform.db import create_pool
    from onceonly.tracking.checkpoint_store import CheckpointStore, StoredCheckpointInvalid
    from onceonly.tracking.timeline_export import export_checkpoint as exported

    settings = load_settings(TrackingSettings)
    keys = settings.checkpoint_public_keys()
    if keys is None:
        raise SystemExit("no checkpoint keys: set ONCEONLY_TIMELINE_CHECKPOINT_PUBLIC_KEYS_FILE")

    async def run() -> dict[str, Any] | None:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            store = CheckpointStore(pool)
            async with pool.acquire() as conn:
                found = await store.coverage(code or "", keys, conn)
            if found is None:
                return None
            return exported(found.signed, found.coverage if code else None)
        finally:
            await pool.close()

    try:
        document = asyncio.run(run())
    except StoredCheckpointInvalid as exc:
        raise SystemExit(f"the latest checkpoint does not verify: {exc}") from None
    if document is None:
        raise SystemExit("no checkpoint has been made yet")
    if code and document["coverage"] is None:
        typer.echo(f"{code} is not covered by the latest checkpoint", err=True)
    _write(document, output)


@cli.command("verify-offline")
def verify_offline(
    timeline: Annotated[Path, typer.Argument(help="an export-timeline file")],
    checkpoint: Annotated[Path, typer.Argument(help="an export-checkpoint file")],
    public_keys: Annotated[
        Path, typer.Option("--public-keys", help="the published keys (checkpoint-keys)")
    ],
) -> None:
    """Check an exported timeline against an exported checkpoint with the published keys
    alone: intact (exit 0), tampered at entry N (1), not covered (2), not genuine (3)."""
    import json

    from onceonly.platform.elicence_signatures import PublishedKeys
    from onceonly.tracking.timeline_export import Verdict
    from onceonly.tracking.timeline_export import verify_offline as verified

    try:
        keys = PublishedKeys.from_json(json.loads(public_keys.read_text(encoding="utf-8")))
        result = verified(
            json.loads(timeline.read_text(encoding="utf-8")),
            json.loads(checkpoint.read_text(encoding="utf-8")),
            keys,
        )
    except (OSError, ValueError) as exc:
        typer.echo(f"cannot verify: {exc}", err=True)
        raise typer.Exit(4) from None
    typer.echo(result.line())
    codes = {Verdict.INTACT: 0, Verdict.TAMPERED: 1, Verdict.NOT_COVERED: 2, Verdict.NOT_GENUINE: 3}
    raise typer.Exit(codes[result.verdict])


def _write(document: dict[str, Any], output: Path | None) -> None:
    import json

    text = json.dumps(document, ensure_ascii=False, indent=2)
    if output is None or str(output) == "-":
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


def _signing_ring(settings: TrackingSettings) -> SigningKeys:
    try:
        return settings.checkpoint_signing_keys()
    except SettingsRefused as exc:
        raise SystemExit(f"onceonly-tracking: refusing to start: {exc}") from None


def main() -> None:
    cli()
