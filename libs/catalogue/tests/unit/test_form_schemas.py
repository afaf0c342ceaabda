"""Every matter publishes a valid form schema; marks of personal fields are checked."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml

from onceonly.catalogue import CatalogueError, default_catalogue
from onceonly.catalogue.forms import FormSchema, FormSchemaError, PersonalKind
from onceonly.catalogue.loader import parse_catalogue


def test_every_shipped_matter_has_a_closed_form_schema() -> None:
    for matter in default_catalogue().matters:
        assert matter.form_schema["additionalProperties"] is False, matter.code
        assert matter.form_schema["properties"], matter.code


def test_personal_fields_are_found_by_path() -> None:
    matter = default_catalogue().matter("housing-fund-loan")
    assert matter is not None
    assert matter.form.personal == {
        ("spouse_name",): PersonalKind.NAME,
        ("spouse_id_number",): PersonalKind.ID_NUMBER,
        ("spouse_mobile",): PersonalKind.MOBILE,
    }


@pytest.mark.parametrize(
    ("matter", "form"),
    [
        # What the demo, the e2e support, chaos traffic, the bench and tests send.
        (
            "household-transfer",
            {"from_district": "上城区", "to_district": "西湖区", "reason": "购房迁入"},
        ),
        ("household-transfer", {"destination": "杭州市西湖区", "reason": "工作调动"}),
        ("birth-of-child", {"child_name": "张小明", "birth_date": "2026-11-30"}),
        ("construction-joint-approval", {"project": "西溪科创园二期", "floor_area_m2": 42000}),
        ("construction-joint-approval", {"required_elicence_type": "construction-qualification"}),
        ("business-startup", {"registered_capital_yuan": 1000000, "business_scope": "软件开发"}),
        ("housing-fund-loan", {"loan_amount_cny": 600000, "loan_term_years": 30}),
        ("housing-fund-loan", {"marital_status": "married"}),
    ],
)
def test_the_forms_we_send_are_valid(matter: str, form: dict[str, Any]) -> None:
    found = default_catalogue().matter(matter)
    assert found is not None
    assert found.form.violations(form) == []


BASE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {"spouse_name": {"type": "string", "x-personal": "name"}},
}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda s: s["properties"]["spouse_name"].update({"x-personal": "email"}),
            "unknown x-personal",
        ),
        (lambda s: s["properties"]["spouse_name"].update({"type": "integer"}), "is a string"),
        (lambda s: s.pop("additionalProperties"), "additionalProperties"),
        (lambda s: s.update({"type": "array"}), "is an object"),
        (lambda s: s.update({"minProperties": "two"}), "not a valid JSON Schema"),
        (
            lambda s: s["properties"].update(
                {"children": {"type": "array", "items": {"type": "string", "x-personal": "name"}}}
            ),
            "named property",
        ),
        (
            lambda s: s["properties"].update({"nested": {"type": "object", "properties": {}}}),
            "nested",
        ),
    ],
)
def test_a_bad_schema_is_refused(change: Any, says: str) -> None:
    schema = copy.deepcopy(BASE)
    change(schema)
    with pytest.raises(FormSchemaError, match=says):
        FormSchema(schema)


def test_the_loader_names_the_matter_of_a_bad_schema() -> None:
    raw = yaml.safe_load(
        resources.files("onceonly.catalogue").joinpath("data", "matters.yaml").read_text("utf-8")
    )
    raw["matters"][0]["form_schema"]["properties"]["x"] = {"type": "string", "x-personal": "ssn"}
    with pytest.raises(CatalogueError, match=r"business-startup.*unknown x-personal 'ssn'"):
        parse_catalogue(yaml.safe_dump(raw, allow_unicode=True), origin="broken.yaml")
