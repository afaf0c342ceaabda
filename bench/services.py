"""Stopping and restarting processes of the running system (deploy/local/services.sh),
to measure one part with the others out of the way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from bench.config import REPO

SERVICES_SH = REPO / "deploy" / "local" / "services.sh"


async def services(command: str, *names: str, env: dict[str, str] | None = None) -> None:
    """`deploy/local/services.sh COMMAND NAMES...`, in `env` (default: this process's)."""
    process = await asyncio.create_subprocess_exec(
        str(SERVICES_SH),
        command,
        *names,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(
            f"services.sh {command} {' '.join(names)} exited {process.returncode}:"
            f" {out.decode(errors='replace')[-500:]}"
        )


@asynccontextmanager
async def stopped(names: Sequence[str]) -> AsyncIterator[None]:
    """Stop `names` for the duration of the block; start them again afterwards, also
    when the block fails or is cancelled (Ctrl-C)."""
    try:
        for name in names:
            await services("stop", name)
        yield
    finally:
        # `up` starts whatever is not running and waits until every service is healthy
        # (`start NAME` waits for its service alone, which is not healthy until all its
        # processes run). Shielded: a second Ctrl-C must not leave the system half
        # stopped.
        await asyncio.shield(services("up"))
