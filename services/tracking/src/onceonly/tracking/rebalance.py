"""How the agents' faust consumer resumes after a rebalance, so that every record it
fetched is either handed to an agent or fetched again.

faust (0.15) drops records in two ways around a rebalance's recovery, and counts on a
seek back to the committed offsets to fetch them again:

- it resumes the stream partitions and seeks them while its flow is still on from the
  table's recovery, and only then empties the agents' queues (held off below: the flow
  stays stopped until faust restarts it after the seek);
- a fetch already in flight shares the set of active partitions that the resume adds
  the stream partitions to, returns their records while the flow is stopped, and faust
  drops them and seeks back to the committed offsets.

aiokafka's seek to the committed offsets leaves a partition with no committed offset
where it is, past the dropped records: faust never saw them again and never committed
that partition (continuity.py read them back after 30 s idle, so no timeline missed an
event, but the group stayed behind for good). The seek below rewinds such a partition
to its first offset, where the consumer's `earliest` reset would have started it.
See test_agent_crash.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
import structlog
from faust.types import TP

log = structlog.get_logger("onceonly.tracking.rebalance")


def resume_after_rebalance(app: faust.App) -> None:
    """Stops faust's flow when a rebalance's recovery is complete, until faust itself
    restarts it after seeking the stream partitions (faust sends
    `on_rebalance_complete` just before its resume and seek); and makes that seek, and
    every later one, rewind partitions never committed."""

    @app.on_rebalance_complete.connect
    async def hold_flow(sender: Any, **_: Any) -> None:
        consumer = app.consumer
        consumer.stop_flow()
        app.flow_control.suspend()
        if not isinstance(consumer.seek_to_committed, _RewindingSeek):
            consumer.seek_to_committed = _RewindingSeek(consumer)


class _RewindingSeek:
    """faust's consumer's `seek_to_committed`, which also seeks every partition that
    faust commits and that has no committed offset to its first offset."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        self._seek: Callable[[], Awaitable[Mapping[TP, int | None]]] = consumer.seek_to_committed

    async def __call__(self) -> Mapping[TP, int | None]:
        committed = await self._seek()
        consumer = self._consumer
        never = [tp for tp, offset in committed.items() if not offset and _acked(consumer, tp)]
        if never:
            starts = await consumer.earliest_offsets(*never)
            for tp in never:
                await consumer.seek(tp, starts.get(tp, 0))
            log.info("partitions never committed rewound", partitions=len(never))
        return committed


def _acked(consumer: Any, tp: TP) -> bool:
    """Whether faust acks and commits `tp`'s records: the agents' topics, not the
    tables' changelogs or faust's own assignor topic."""
    return bool(consumer.app.topics.acks_enabled_for(tp.topic))
