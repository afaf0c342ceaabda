"""The payload converter decodes every dataclass as the SDK's own does, with each
class's field types resolved once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import pytest
from temporalio.converter import DefaultPayloadConverter

from onceonly.workflow.payload_converter import PayloadConverter, field_hints, typed_value
from onceonly.workflow.shared import (
    AgentInput,
    ApplicationInput,
    ConsentInput,
    ContactInput,
)


class Colour(StrEnum):
    RED = "red"


@dataclass
class Inner:
    at: datetime
    colour: Colour = Colour.RED


@dataclass
class Outer:
    name: str
    inners: list[Inner]
    by_key: dict[str, Inner]
    maybe: Inner | None = None
    computed: int = field(default=0, init=False)


APPLICATION = ApplicationInput(
    application_code="330100-20261205-0000001",
    matter_code="housing-fund-loan",
    integrator_id="portal",
    applicant_kind="person",
    materials=["loan-application"],
    contact=ContactInput(mobile_sealed="k:x", mobile_masked="1381234****"),
    submitted_at="2026-12-05T01:00:00Z",
    identifier_sealed="k:y",
    form_json="{}",
    agent=AgentInput(name_masked="李**", scope=["submit"]),
    consents=[ConsentInput("population", "c-1", "2026-12-05T00:59:00Z")],
)
OUTER = Outer(
    name="n",
    inners=[Inner(datetime(2026, 12, 5, tzinfo=UTC))],
    by_key={"a": Inner(datetime(2026, 12, 6, tzinfo=UTC))},
    maybe=None,
)
OUTER.computed = 7


@pytest.mark.parametrize("value", [APPLICATION, OUTER], ids=["application", "nested"])
def test_decodes_as_the_sdk_does(value: object) -> None:
    sdk, ours = DefaultPayloadConverter(), PayloadConverter()
    [payload] = sdk.to_payloads([value])
    assert ours.to_payloads([value]) == [payload]  # encoding untouched
    [expected] = sdk.from_payloads([payload], [type(value)])
    [decoded] = ours.from_payloads([payload], [type(value)])
    assert decoded == expected == value
    assert typed_value(type(value), json.loads(payload.data)) == value
    # A field outside __init__ is restored too.
    assert getattr(decoded, "computed", None) == getattr(expected, "computed", None)


def test_unknown_keys_are_ignored_and_missing_fields_refused() -> None:
    raw = {"at": "2026-12-05T00:00:00+00:00", "unknown": 1}
    assert typed_value(Inner, raw) == Inner(datetime(2026, 12, 5, tzinfo=UTC))
    with pytest.raises(TypeError):
        typed_value(Inner, {"colour": "red"})
    with pytest.raises(TypeError, match="Failed converting field at"):
        typed_value(Inner, {"at": 5})


def test_field_types_are_resolved_once_per_class() -> None:
    field_hints.cache_clear()
    raw = {"name": "n", "inners": [{"at": "2026-12-05T00:00:00+00:00"}] * 3, "by_key": {}}
    for _ in range(5):
        typed_value(Outer, raw)
    info = field_hints.cache_info()
    assert info.misses == 2  # Outer and Inner
    assert info.hits == 5 * 4 - 2
