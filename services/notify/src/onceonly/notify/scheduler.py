"""The loop that sends messages whose time has come: deferred by quiet hours or a rate
limit, or retried after a temporary provider failure. Its work list is the ledger, so it
survives restarts: a message deferred before a restart is sent after it."""

from __future__ import annotations

import asyncio

import structlog

from onceonly.notify.notifier import Notifier

log = structlog.get_logger(__name__)


class DeferredSender:
    def __init__(self, notifier: Notifier, *, poll_seconds: float = 1.0, batch: int = 50) -> None:
        self._notifier = notifier
        self._poll = poll_seconds
        self._batch = batch

    async def run(self) -> None:
        while True:
            try:
                await self._notifier.send_due(limit=self._batch)
            except Exception as exc:  # the loop must outlive a bad tick (e.g. a db restart)
                log.error("deferred sender tick failed", error=repr(exc))
            await asyncio.sleep(self._poll)
