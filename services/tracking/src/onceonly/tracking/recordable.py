"""Which decodable events can still never be recorded, decided before touching Postgres.

Postgres refuses NUL characters in text and index entries beyond a few kilobytes;
retrying such an event would block its partition forever, so it is parked instead.
"""

from __future__ import annotations

from google.protobuf.message import Message

from onceonly.events.v1 import checkpoint_pb2
from onceonly.platform.envelope import Envelope

# Generous for real ids (UUIDs, application codes, protobuf names, service URIs).
MAX_KEY_LENGTH = 200
MAX_SOURCE_LENGTH = 1000


def unrecordable_reason(envelope: Envelope, message: Message) -> str | None:
    """Why this event cannot be recorded, or None when it can."""
    if isinstance(message, checkpoint_pb2.TimelineCheckpoint):
        # Tracking's own checkpoints belong to no timeline (and are not followed).
        return "a timeline checkpoint is no application's event"
    keys = {
        "ce_id": envelope.id,
        "ce_subject": envelope.subject,
        "ce_type": envelope.type,
    }
    for name, value in keys.items():
        if "\x00" in value:
            return f"{name} contains a NUL character"
        if len(value) > MAX_KEY_LENGTH:
            return f"{name} is longer than {MAX_KEY_LENGTH} characters"
    if "\x00" in envelope.source:
        return "ce_source contains a NUL character"
    if len(envelope.source) > MAX_SOURCE_LENGTH:
        return f"ce_source is longer than {MAX_SOURCE_LENGTH} characters"
    if not envelope.subject.strip():
        return "ce_subject (the application code) is blank"
    declared = getattr(message, "application_code", "")
    if declared and declared != envelope.subject:
        return (
            f"ce_subject {envelope.subject!r} differs from the event's application code"
            f" {declared!r}"
        )
    return None
