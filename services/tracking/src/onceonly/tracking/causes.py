"""Which recorded event an event must follow on its timeline.

A timeline is read as a story: the submission first, a notification's outcome after the
event it reports on. Kafka orders one application's events within a topic only, and
intake's submissions, the approval workflow's events and notify's outcomes each travel
on their own topic, so tracking can read an effect first; it then waits (deferred) until
its cause is recorded:

- a notification's outcome waits for the event it names;
- an event of the approval workflow waits for a timeline to follow: the workflow starts
  from the submission (the bridge reads it from Kafka), so an empty timeline means the
  submission is on its way, behind in another topic's batch. Once one waits, the
  workflow's later events of that application wait behind it (their topic's order).

Other events are recorded as they come.
"""

from __future__ import annotations

from google.protobuf.message import Message

from onceonly.events.v1 import approval_pb2, notification_pb2
from onceonly.tracking.errors import CauseNotRecorded, SubmissionNotRecorded

# Notify's ledger ids for a second message about one event ("<event id>#<part>").
PART_SEPARATOR = "#"


def awaited_cause(message: Message) -> str | None:
    """The event id that must be on the timeline before `message`, if any."""
    if isinstance(message, notification_pb2.NotificationSent) and message.cause_event_id:
        return message.cause_event_id.split(PART_SEPARATOR, 1)[0]
    return None


def awaits_submission(message: Message) -> bool:
    """Whether `message` (an event of the approval workflow) may only follow an entry of
    its timeline: recorded first, it would stand before the submission it came from."""
    return message.DESCRIPTOR.file is approval_pb2.DESCRIPTOR


def not_ready(
    message: Message, code: str, *, head_seq: int, cause_recorded: bool
) -> CauseNotRecorded | SubmissionNotRecorded | None:
    """Why `message` of application `code` must wait, if it must: the rule of the batch
    plan and of the single append alike. `head_seq`: the locked head's (0: the timeline
    is empty); `cause_recorded`: whether its awaited cause, if it names one, is on this
    timeline."""
    cause = awaited_cause(message)
    if cause is not None and not cause_recorded:
        return CauseNotRecorded(code, cause)
    if head_seq == 0 and awaits_submission(message):
        return SubmissionNotRecorded(code)
    return None
