"""Temporal's default payload converter, with each dataclass's field types resolved once.

The SDK turns a JSON payload into the dataclass an activity, workflow, signal or update
takes by calling `typing.get_type_hints` on the class for every value it converts; our
modules use `from __future__ import annotations`, so each call evaluates every field's
annotation string again. That was about a tenth of the worker's CPU per application
(py-spy, bench/worker_cpu.py). The field types of a class do not change, so they are
resolved once per class and kept; everything else is the SDK's own conversion
(`value_to_type`), which this falls back to for every field and every other type.

The payloads written are unchanged (only decoding is touched), so histories and running
workflows are not affected.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

from temporalio.converter import (
    CompositePayloadConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)

# Bounded: in the workflow sandbox, classes of modules that are not passed through are
# imported again for each workflow run, and would otherwise be kept forever.
_HINTS_CACHED = 1024


@functools.lru_cache(maxsize=_HINTS_CACHED)
def field_hints(cls: type) -> dict[str, Any]:
    """The resolved type of every field of dataclass `cls` (computed once per class)."""
    return typing.get_type_hints(cls)


class CachedDataclassFields(JSONTypeConverter):
    """Converts a dict into a dataclass as `value_to_type` does, with the class's field
    types from `field_hints` instead of resolved for every value."""

    def to_typed_value(self, hint: type, value: Any) -> Any | None:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {hint}, value is {type(value)} not dict")
        hints = field_hints(hint)
        converters = [self]
        init_values: dict[str, Any] = {}
        other_values: dict[str, Any] = {}
        # As the SDK does: unknown keys ignored, missing required fields left to the
        # constructor to refuse, init=False fields set after construction.
        for field in dataclasses.fields(hint):
            if field.name not in value:
                continue
            try:
                converted = value_to_type(hints[field.name], value[field.name], converters)
            except Exception as err:
                message = f"Failed converting field {field.name} on dataclass {hint}"
                raise TypeError(message) from err
            (init_values if field.init else other_values)[field.name] = converted
        obj = hint(**init_values)
        for name, field_value in other_values.items():
            object.__setattr__(obj, name, field_value)
        return obj


_CONVERTERS: list[JSONTypeConverter] = [CachedDataclassFields()]


def typed_value(hint: type, value: Any) -> Any:
    """`value` (as json.loads gives it) as `hint`, as the payload converter decodes it."""
    return value_to_type(hint, value, _CONVERTERS)


class _JSONWithCachedFields(JSONPlainPayloadConverter):
    def __init__(self) -> None:
        super().__init__(custom_type_converters=_CONVERTERS)


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default converters in their order, the JSON one resolving dataclass
    fields once per class. Built without arguments: the sandbox builds its own."""

    def __init__(self) -> None:
        super().__init__(
            *(
                _JSONWithCachedFields() if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )
