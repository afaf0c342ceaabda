"""The registry of event types: CloudEvents `type` is the protobuf full name."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message

from onceonly.events.v1 import (
    application_pb2,
    approval_pb2,
    checkpoint_pb2,
    notification_pb2,
    supervision_pb2,
    workorder_pb2,
)

_MODULES = (
    application_pb2,
    approval_pb2,
    notification_pb2,
    supervision_pb2,
    workorder_pb2,
    checkpoint_pb2,
)


class UnknownEventType(LookupError):
    """A `ce_type` that no schema of ours describes."""


def _build_registry() -> dict[str, type[Message]]:
    registry: dict[str, type[Message]] = {}
    for module in _MODULES:
        for name in module.DESCRIPTOR.message_types_by_name:
            cls = getattr(module, name)
            registry[cls.DESCRIPTOR.full_name] = cls
    return registry


EVENT_TYPES: dict[str, type[Message]] = _build_registry()


def event_type(message: Message) -> str:
    """The CloudEvents type of a message."""
    return message.DESCRIPTOR.full_name


def message_class(ce_type: str) -> type[Message]:
    try:
        return EVENT_TYPES[ce_type]
    except KeyError:
        raise UnknownEventType(ce_type) from None


def parse_event(ce_type: str, data: bytes) -> Message:
    """Decode an event body; raises UnknownEventType or protobuf's DecodeError."""
    message = message_class(ce_type)()
    message.ParseFromString(data)
    return message


def instant(message: Message, name: str) -> datetime | None:
    """The Timestamp field `name` of `message` as an aware UTC datetime; None when it is
    unset or zero. The workflow sends an empty Timestamp for a deadline it does not know
    yet (acceptance waiting for a supplement), which read as set would be 1970-01-01."""
    if not message.HasField(name):
        return None
    stamp = getattr(message, name)
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return stamp.ToDatetime(tzinfo=UTC)
