"""The readable summary of an event stored beside the raw bytes of its timeline entry.

Personal data travels as SealedText (ciphertext plus a masked form). Tracking never
needs to open it, so the summary keeps only the masked form: nothing personal is stored
in the clear, and the ciphertext is not copied into a second place. The same holds for
an application's form (`form_json`): its personal fields travel sealed in place as
`{"sealed", "masked"}`, and the summary keeps the mask.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1.application_pb2 import SealedText
from onceonly.platform.canonical_json import canonical_json
from onceonly.platform.pii import masked_form

_SEALED = SealedText.DESCRIPTOR.full_name
_TIMESTAMP = Timestamp.DESCRIPTOR.full_name
_FORM = "form_json"


def summarise(message: Message) -> dict[str, Any]:
    """The message as JSON-ready dict (proto field names), each SealedText as its mask.

    The same dict as protobuf's `MessageToDict(message, preserving_proto_field_name=True)`
    with each SealedText replaced by its mask and each empty Timestamp left out, which
    is what it was computed from until 2026-12-05; the summary is hashed into the
    timeline's chain, so it must stay the same to the byte (tests/unit/test_summary.py
    compares the two over every event type). Written out here because `MessageToDict`,
    pure Python and general, was 9 % of the tracking agent's samples.
    """
    as_dict = _converter(message.DESCRIPTOR)(message)
    if isinstance(as_dict.get(_FORM), str):
        as_dict[_FORM] = _masked_form_json(as_dict[_FORM])
    return as_dict


def _masked_form_json(text: str) -> str:
    """The form with its sealed fields as their masks; "" when it is not a JSON object
    (nothing unreadable is kept: it could hide anything)."""
    try:
        form = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(form, dict):
        return ""
    return canonical_json(masked_form(form))


Convert = Callable[[Any], Any]

_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_AS_IS = frozenset(
    {
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_BOOL,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_SFIXED32,
    }
)
_converters: dict[str, Convert] = {}


class _Unsupported(Exception):
    """A field this walker does not write out (floats, maps, other well-known types)."""


def _converter(descriptor: Descriptor) -> Convert:
    """The message type's conversion, built once per type; a type with a field it does
    not handle goes through `MessageToDict` and the reduction of its result instead."""
    known = _converters.get(descriptor.full_name)
    if known is None:
        try:
            known = _message_converter(descriptor, set())
        except _Unsupported:
            known = _through_message_to_dict
        _converters[descriptor.full_name] = known
    return known


def _message_converter(descriptor: Descriptor, seen: set[str]) -> Convert:
    if descriptor.full_name in seen:
        raise _Unsupported(descriptor.full_name)  # recursive types: not among our events
    seen = seen | {descriptor.full_name}
    fields = {field.number: (field, _field_converter(field, seen)) for field in descriptor.fields}

    def convert(message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field, value in message.ListFields():
            described, each = fields[field.number]
            if described.is_repeated:
                out[described.name] = [each(item) for item in value]
            elif described.message_type is not None and _is_empty_timestamp(described, value):
                # The workflow sends a clock not started yet (acceptance waiting for a
                # supplement) with empty Timestamps: no time, as platform.events.instant
                # reads them, rather than a start and deadline of 1970-01-01.
                continue
            else:
                out[described.name] = each(value)
        return out

    return convert


def _is_empty_timestamp(field: FieldDescriptor, value: Any) -> bool:
    return field.message_type.full_name == _TIMESTAMP and value.seconds == 0 and value.nanos == 0


def _field_converter(field: FieldDescriptor, seen: set[str]) -> Convert:
    kind = field.message_type
    if kind is not None:
        if kind.GetOptions().map_entry:
            raise _Unsupported(field.full_name)
        if kind.full_name == _SEALED:
            return _mask
        if kind.full_name == _TIMESTAMP:
            return _timestamp
        if kind.full_name.startswith("google.protobuf."):
            raise _Unsupported(field.full_name)
        return _message_converter(kind, seen)
    if field.type in _AS_IS:
        return _as_is
    if field.type in _INT64:
        return str
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _base64
    if field.type == FieldDescriptor.TYPE_ENUM:
        names = {value.number: value.name for value in field.enum_type.values}
        return lambda number: names.get(number, number)  # open enums: unknown as the number
    raise _Unsupported(field.full_name)  # float and double: JSON's special cases


def _as_is(value: Any) -> Any:
    return value


def _mask(sealed: SealedText) -> str:
    return sealed.masked


def _timestamp(value: Timestamp) -> str:
    return value.ToJsonString()


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _through_message_to_dict(message: Message) -> dict[str, Any]:
    as_dict = MessageToDict(message, preserving_proto_field_name=True)
    _reduce(message.DESCRIPTOR, as_dict)
    return as_dict


# What MessageToDict makes of an empty Timestamp that was set anyway.
_EPOCH = "1970-01-01T00:00:00Z"


def _reduce(descriptor: Descriptor, value: dict[str, Any]) -> None:
    """Replace SealedText values in `value` (the dict of a `descriptor` message) in place."""
    for field in descriptor.fields:
        if field.message_type is None or field.name not in value:
            continue
        item = value[field.name]
        kind = field.message_type
        if kind.full_name == _TIMESTAMP and item == _EPOCH:
            # The workflow sends a clock not started yet (acceptance waiting for a
            # supplement) with empty Timestamps: no time, as platform.events.instant
            # reads them, rather than a start and deadline of 1970-01-01 in the timeline.
            del value[field.name]
            continue
        if kind.GetOptions().map_entry:
            map_value = kind.fields_by_name["value"]
            if map_value.message_type is not None:
                for key in list(item):
                    item[key] = _reduced(map_value.message_type, item[key])
        elif field.is_repeated:
            value[field.name] = [_reduced(kind, element) for element in item]
        else:
            value[field.name] = _reduced(kind, item)


def _reduced(descriptor: Descriptor, item: Any) -> Any:
    if descriptor.full_name == _SEALED:
        return item.get("masked", "") if isinstance(item, dict) else ""
    # Well-known types (Timestamp, Struct, ...) are already plain JSON values.
    if isinstance(item, dict) and not descriptor.full_name.startswith("google.protobuf."):
        _reduce(descriptor, item)
    return item
