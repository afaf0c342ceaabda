"""Every payload a Temporal protobuf message holds (a history event, a whole history),
to encrypt recorded histories and to look for plaintext in raw ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import MarkerRecordedEventAttributes

# Not encoded by a payload codec: the SDK writes them as they are.
UNENCODED_FIELDS = frozenset({"header", "search_attributes"})
# A marker's details are written by the SDK's core (a patch's id, a local activity's
# bookkeeping), never by a codec, but for a local activity's `result`.
MARKER_DETAILS_ENCODED = frozenset({"result"})


def payloads(message: Message, *, skip: frozenset[str] = UNENCODED_FIELDS) -> Iterator[Payload]:
    """Every payload in `message`, depth first, except under the fields named in `skip`."""
    for field, value in message.ListFields():
        if field.message_type is None or field.name in skip:
            continue
        if field.message_type.GetOptions().map_entry:
            if isinstance(message, MarkerRecordedEventAttributes) and field.name == "details":
                value = {k: v for k, v in value.items() if k in MARKER_DETAILS_ENCODED}
            items = list(value.values())
            if items and not isinstance(items[0], Message):
                continue
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            else:
                yield from payloads(item, skip=skip)


def transform(message: Message, change: Callable[[Payload], Payload]) -> None:
    """Replaces, in place, every payload of `message` (but those `payloads` skips) with
    `change(payload)`."""
    for payload in list(payloads(message)):
        payload.CopyFrom(change(payload))
