"""The readable summary of an event stored beside the raw bytes of its timeline entry.

Personal data travels as SealedText (ciphertext plus a masked form). Tracking never
needs to open it, so the summary keeps only the masked form: nothing personal is stored
in the clear, and the ciphertext is not copied into a second place. The same holds for
an application's form (`form_json`): its personal fields travel sealed in place as
`{"sealed", "masked"}`, and the summary keeps the mask.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import Descriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1.application_pb2 import SealedText
from onceonly.platform.pii import masked_form

_SEALED = SealedText.DESCRIPTOR.full_name
_TIMESTAMP = Timestamp.DESCRIPTOR.full_name
# What MessageToDict makes of an empty Timestamp that was set anyway.
_EPOCH = "1970-01-01T00:00:00Z"


def summarise(message: Message) -> dict[str, Any]:
    """The message as JSON-ready dict (proto field names), each SealedText as its mask."""
    as_dict = MessageToDict(message, preserving_proto_field_name=True)
    _reduce(message.DESCRIPTOR, as_dict)
    if isinstance(as_dict.get(_FORM), str):
        as_dict[_FORM] = _masked_form_json(as_dict[_FORM])
    return as_dict


_FORM = "form_json"


def _masked_form_json(text: str) -> str:
    """The form with its sealed fields as their masks; "" when it is not a JSON object
    (nothing unreadable is kept: it could hide anything)."""
    try:
        form = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(form, dict):
        return ""
    return json.dumps(masked_form(form), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


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
