"""Kafka topic names: one topic per stream, keyed by application code (but one)."""

from __future__ import annotations

from enum import StrEnum


class Stream(StrEnum):
    SUBMISSIONS = "submissions"
    APPLICANT_UPDATES = "applicant-updates"
    APPROVAL_EVENTS = "approval-events"
    SUPERVISION_ALERTS = "supervision-alerts"
    NOTIFICATION_OUTCOMES = "notification-outcomes"
    WORK_ORDERS = "work-orders"
    # Tracking's signed checkpoints over every timeline (checkpoint.proto): keyed by
    # `timeline-checkpoints`, about no one application.
    TIMELINE_CHECKPOINTS = "timeline-checkpoints"


# The streams whose events belong to an application's timeline: what tracking follows.
APPLICATION_STREAMS: tuple[Stream, ...] = tuple(
    stream for stream in Stream if stream is not Stream.TIMELINE_CHECKPOINTS
)


def topic_name(prefix: str, stream: Stream) -> str:
    """The topic of a stream, e.g. `onceonly.submissions.v1`."""
    return f"{prefix}.{stream.value}.v1"


def dead_letter_topic(prefix: str, consumer: str) -> str:
    """The dead-letter topic of one consumer, e.g. `onceonly.dlq.tracking`."""
    return f"{prefix}.dlq.{consumer}"


def all_topics(prefix: str) -> list[str]:
    return [topic_name(prefix, stream) for stream in Stream]
