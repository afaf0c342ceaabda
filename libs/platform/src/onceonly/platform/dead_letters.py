"""Dead letters for operators: list them, look at one, send it again.

Every consumer parks what it cannot process on its own dead-letter topic
(`<prefix>.dlq.<consumer>`, a `DeadLetter` message holding the original record
untouched) and goes on. Some letters need a person: an event that waited longer than
its deferral allows (its submission came later still), a record that a bug made
unprocessable and a release has since fixed. `redrive` publishes the original record
again, with its key, value and headers, onto the topic it came from: every consumer of
that topic is idempotent by event id, so those that had handled it skip it, and the one
that parked it gets another go. A letter's place is `partition:offset` on its
dead-letter topic.

Each service's CLI mounts `dead_letter_commands` as `dead-letters`; the commands show no
record value (it may hold sealed personal data), only where it came from, its event id
and type, and the reason.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer

from onceonly.events.v1 import envelope_pb2
from onceonly.platform.kafka import build_producer
from onceonly.platform.kafka_ports import Producer
from onceonly.platform.partition_reader import PartitionReader
from onceonly.platform.settings import PlatformSettings, load_settings
from onceonly.platform.topics import dead_letter_topic

# Added to a record sent again, so that its second life can be told from its first.
REDRIVEN_HEADER = "onceonly-redriven-from"


@dataclass(frozen=True)
class ParkedLetter:
    """One dead letter and where it sits on its dead-letter topic."""

    topic: str
    partition: int
    offset: int
    letter: envelope_pb2.DeadLetter

    @property
    def place(self) -> str:
        return f"{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        found = [h.value for h in self.letter.headers if h.key == name]
        return found[-1].decode("utf-8", "replace") if found else ""

    def summary(self) -> dict[str, Any]:
        """What an operator may see: no record value."""
        parked_at = self.letter.parked_at.ToDatetime(tzinfo=UTC)
        return {
            "place": self.place,
            "consumer": self.letter.consumer,
            "parked_at": parked_at.isoformat(),
            "reason": self.letter.reason,
            "source": f"{self.letter.source_topic}/{self.letter.source_partition}"
            f"@{self.letter.source_offset}",
            "key": self.letter.key.decode("utf-8", "replace"),
            "event_id": self.header("ce_id"),
            "event_type": self.header("ce_type"),
            "redriven_from": self.header(REDRIVEN_HEADER),
        }


async def read_letters(reader: PartitionReader, topic: str) -> list[ParkedLetter]:
    """Every letter on `topic`, partition by partition, oldest first; a record that is
    not a DeadLetter is skipped (nothing but consumers write there)."""
    ends = await reader.end_offsets([topic])
    letters: list[ParkedLetter] = []
    for (_, partition), end in sorted(ends.items()):
        for record in await reader.read(topic, partition, 0, end):
            try:
                letter = envelope_pb2.DeadLetter.FromString(record.value or b"")
            except Exception:  # noqa: S112 - not ours to show
                continue
            letters.append(ParkedLetter(topic, record.partition, record.offset, letter))
    return letters


async def redrive(producer: Producer, parked: ParkedLetter) -> Any:
    """Publish the parked record again onto its source topic; returns the broker's ack."""
    letter = parked.letter
    headers = [(h.key, h.value) for h in letter.headers if h.key != REDRIVEN_HEADER]
    headers.append((REDRIVEN_HEADER, f"{parked.topic}@{parked.place}".encode()))
    return await producer.send_and_wait(
        letter.source_topic, value=letter.value, key=letter.key or None, headers=headers
    )


def dead_letter_commands(
    settings: Callable[[], PlatformSettings], consumers: Sequence[str]
) -> typer.Typer:
    """The `dead-letters` commands for the consumers of one service."""
    commands = typer.Typer(help="List, inspect and re-drive dead letters.", no_args_is_help=True)
    default = consumers[0]
    consumer_help = f"One of {', '.join(consumers)}"

    def topic_of(consumer: str) -> str:
        if consumer not in consumers:
            raise typer.BadParameter(f"unknown consumer {consumer!r}; {consumer_help}")
        return dead_letter_topic(load_settings(settings).topic_prefix, consumer)

    async def letters_of(consumer: str) -> list[ParkedLetter]:
        reader = PartitionReader(
            load_settings(settings).kafka_bootstrap, client_id="onceonly-dead-letters"
        )
        try:
            return await read_letters(reader, topic_of(consumer))
        finally:
            await reader.close()

    @commands.command("list")
    def list_letters(
        consumer: str = typer.Option(default, help=consumer_help),
        reason: str = typer.Option("", help="Only letters whose reason contains this"),
        as_json: bool = typer.Option(False, "--json", help="One JSON object a line"),
    ) -> None:
        """The dead letters of a consumer, oldest first."""
        found = [
            parked for parked in asyncio.run(letters_of(consumer)) if reason in parked.letter.reason
        ]
        for parked in found:
            row = parked.summary()
            if as_json:
                typer.echo(json.dumps(row, ensure_ascii=False))
            else:
                typer.echo(
                    f"{row['place']:>8}  {row['parked_at'][:19]}  {row['key']}  "
                    f"{row['event_type'].rsplit('.', 1)[-1]}  {row['reason']}"
                )
        if not as_json:
            typer.echo(f"{len(found)} dead letter(s) of {consumer}", err=True)

    @commands.command("show")
    def show_letter(
        place: str = typer.Argument(..., help="partition:offset, as `list` shows it"),
        consumer: str = typer.Option(default, help=consumer_help),
    ) -> None:
        """One dead letter, with its original headers (not its value)."""
        parked = _find(asyncio.run(letters_of(consumer)), place)
        row = parked.summary()
        row["headers"] = {
            h.key: h.value.decode("utf-8", "replace")
            for h in parked.letter.headers
            if not h.key.startswith("trace")
        }
        row["value_bytes"] = len(parked.letter.value)
        typer.echo(json.dumps(row, ensure_ascii=False, indent=2))

    @commands.command("redrive")
    def redrive_letters(
        places: list[str] = typer.Argument(None, help="partition:offset of each letter"),
        consumer: str = typer.Option(default, help=consumer_help),
        reason: str = typer.Option("", help="Every letter whose reason contains this"),
    ) -> None:
        """Publish parked records again onto their source topics."""
        if not places and not reason:
            raise typer.BadParameter("name letters by place, or choose them with --reason")

        async def run() -> int:
            letters = await letters_of(consumer)
            chosen = (
                [_find(letters, place) for place in places]
                if places
                else [parked for parked in letters if reason in parked.letter.reason]
            )
            producer = build_producer(
                load_settings(settings).kafka_bootstrap, client_id="onceonly-redrive"
            )
            await producer.start()
            try:
                for parked in chosen:
                    ack = await redrive(producer, parked)
                    typer.echo(
                        f"{parked.place} -> {ack.topic}/{ack.partition}@{ack.offset}"
                        f"  {parked.header('ce_id')}"
                    )
            finally:
                await producer.stop()
            return len(chosen)

        sent = asyncio.run(run())
        typer.echo(f"{sent} record(s) sent again at {datetime.now(UTC):%H:%M:%S}Z", err=True)

    return commands


def _find(letters: list[ParkedLetter], place: str) -> ParkedLetter:
    for parked in letters:
        if parked.place == place:
            return parked
    raise typer.BadParameter(f"no dead letter at {place}")
