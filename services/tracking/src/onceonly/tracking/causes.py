"""Which recorded event an event must follow on its timeline.

A timeline is read as a story: a notification's outcome after the event it reports on.
Kafka orders one application's events within a topic only, and notify's outcomes travel
on their own topic, so tracking can read an outcome first; it then waits (deferred) until
its cause is recorded. Other events name no cause and are recorded as they come.
"""

from __future__ import annotations

from google.protobuf.message import Message

from onceonly.events.v1 import notification_pb2

# Notify's ledger ids for a second message about one event ("<event id>#<part>").
PART_SEPARATOR = "#"


def awaited_cause(message: Message) -> str | None:
    """The event id that must be on the timeline before `message`, if any."""
    if isinstance(message, notification_pb2.NotificationSent) and message.cause_event_id:
        return message.cause_event_id.split(PART_SEPARATOR, 1)[0]
    return None
