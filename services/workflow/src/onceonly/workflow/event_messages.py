"""Domain events (approval_events) to their protobuf messages. Pure.

One rule per kind of value: an instant becomes a Timestamp, a clock, actor, contact or
check outcome its message, an enum the protobuf value of the same member name (our
enums and the protobuf's share member names by design); everything else is copied.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2
from onceonly.workflow.approval_events import Actor, ApprovalEvent, Clock
from onceonly.workflow.shared import CheckOutcome, ContactInput

_MESSAGES: dict[str, type[Message]] = {
    descriptor.full_name: getattr(module, name)
    for module in (approval_pb2, supervision_pb2)
    for name, descriptor in module.DESCRIPTOR.message_types_by_name.items()
}


def timestamp(instant: datetime | None) -> Timestamp:
    stamp = Timestamp()
    if instant is not None:
        stamp.FromDatetime(instant)
    return stamp


def clock_message(clock: Clock) -> approval_pb2.Clock:
    return approval_pb2.Clock(
        committed_days=clock.committed_days,
        day_kind=clock.day_kind,
        started_at=timestamp(clock.started_at),
        due_at=timestamp(clock.due_at),
        paused=clock.paused,
        provisional=clock.provisional,
    )


def contact_message(contact: ContactInput) -> application_pb2.Contact:
    return application_pb2.Contact(
        mobile=application_pb2.SealedText(
            sealed=contact.mobile_sealed, masked=contact.mobile_masked
        ),
        channels=list(contact.channels),
        language=contact.language,
    )


def check_message(check: CheckOutcome) -> approval_pb2.CheckOutcome:
    """A check with its provenance (registry, record, time) where it has one."""
    message = approval_pb2.CheckOutcome(
        check=check.check,
        passed=check.passed,
        reason=check.reason,
        reason_zh=check.reason_zh,
        registry=check.registry,
        record_reference=check.record_reference,
        code=check.code,
        consent_reference=check.consent_reference,
    )
    if check.checked_at:
        message.checked_at.FromDatetime(datetime.fromisoformat(check.checked_at))
    return message


def to_message(application_code: str, event: ApprovalEvent) -> Message:
    """The protobuf message of `event` in application `application_code`."""
    message = _MESSAGES[event.TYPE](application_code=application_code)
    fields = message.DESCRIPTOR.fields_by_name
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if value is None:
            continue
        converted = _value(fields[item.name], value)
        if isinstance(converted, Message):
            getattr(message, item.name).CopyFrom(converted)
        elif isinstance(converted, list):
            getattr(message, item.name).extend(converted)
        else:
            setattr(message, item.name, converted)
    return message


def _value(target: FieldDescriptor, value: Any) -> Any:
    if isinstance(value, list):
        return [_value(target, item) for item in value]
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, Clock):
        return clock_message(value)
    if isinstance(value, ContactInput):
        return contact_message(value)
    if isinstance(value, Actor):
        return approval_pb2.Actor(
            kind=value.kind.value, id=value.id, department_code=value.department_code
        )
    if isinstance(value, CheckOutcome):
        return check_message(value)
    if isinstance(value, Enum) and target.enum_type is not None:
        prefix = target.enum_type.values[0].name.removesuffix("UNSPECIFIED")
        return target.enum_type.values_by_name[prefix + value.name].number
    return value
