"""Local variants of province matters: only what the matter allows (a shorter committed
limit, an extra local material), for a region of the province; the variant applies to
the region and everything under it."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from onceonly.catalogue import CatalogueError, default_catalogue
from onceonly.catalogue.jurisdictions import default_jurisdictions
from onceonly.catalogue.loader import parse_catalogue
from onceonly.catalogue.model import Catalogue

SHIPPED = yaml.safe_load(
    resources.files("onceonly.catalogue").joinpath("data", "matters.yaml").read_text("utf-8")
)


def with_variants(*variants: dict[str, Any]) -> Catalogue:
    raw = {**SHIPPED, "variants": list(variants)}
    return parse_catalogue(yaml.safe_dump(raw, allow_unicode=True), origin="variants.yaml")


def test_a_shorter_limit_applies_to_the_county_and_its_townships_only() -> None:
    catalogue, province = default_catalogue(), default_jurisdictions()
    matter = "construction-joint-approval"
    assert catalogue.matter_in(matter, "330106", province).committed_days == 20
    assert catalogue.matter_in(matter, "330106001", province).committed_days == 20
    assert catalogue.matter_in(matter, "330102", province).committed_days == 25
    assert catalogue.matter_in(matter, "330100", province).committed_days == 25
    # Everything else is the province's.
    assert catalogue.matter_in(matter, "330106", province).tasks == catalogue.matter(matter).tasks


def test_a_city_material_adds_to_its_counties_and_not_elsewhere() -> None:
    catalogue, province = default_catalogue(), default_jurisdictions()
    codes = [
        m.code for m in catalogue.matter_in("food-business-licence", "330212", province).materials
    ]
    assert codes[-1] == "kitchen-waste-contract"
    elsewhere = catalogue.matter_in("food-business-licence", "330106", province).materials
    assert "kitchen-waste-contract" not in {m.code for m in elsewhere}


def test_a_county_limit_wins_over_its_city_limit() -> None:
    catalogue = with_variants(
        {"region": "330100", "matter": "construction-joint-approval", "committed_days": 22},
        {"region": "330106", "matter": "construction-joint-approval", "committed_days": 20},
    )
    province = default_jurisdictions()
    assert (
        catalogue.matter_in("construction-joint-approval", "330106", province).committed_days == 20
    )
    assert (
        catalogue.matter_in("construction-joint-approval", "330110", province).committed_days == 22
    )


def test_a_variant_the_matter_does_not_allow_is_refused() -> None:
    with pytest.raises(CatalogueError, match="does not allow a shorter_limit"):
        with_variants({"region": "330106", "matter": "birth-of-child", "committed_days": 3})
    extra = {"code": "local-form", "name_zh": "本地表", "name_en": "Local form"}
    with pytest.raises(CatalogueError, match="does not allow a extra_material"):
        with_variants(
            {
                "region": "330106",
                "matter": "construction-joint-approval",
                "extra_materials": [extra],
            }
        )


def test_a_limit_not_shorter_or_shorter_than_a_task_is_refused() -> None:
    with pytest.raises(CatalogueError, match="26 days is not shorter than the province's 25"):
        with_variants(
            {"region": "330106", "matter": "construction-joint-approval", "committed_days": 26}
        )
    with pytest.raises(CatalogueError, match="9 days is shorter than a task's 10"):
        with_variants(
            {"region": "330106", "matter": "construction-joint-approval", "committed_days": 9}
        )


def test_a_material_of_the_province_a_repeat_and_an_empty_variant_are_refused() -> None:
    again = {"code": "premises-layout", "name_zh": "平面图", "name_en": "Layout"}
    with pytest.raises(CatalogueError, match="already the province's"):
        with_variants(
            {"region": "330200", "matter": "food-business-licence", "extra_materials": [again]}
        )
    twice = {"region": "330106", "matter": "construction-joint-approval", "committed_days": 20}
    with pytest.raises(CatalogueError, match="two variants of construction-joint-approval"):
        with_variants(twice, twice)
    with pytest.raises(CatalogueError, match="changes nothing"):
        with_variants({"region": "330106", "matter": "construction-joint-approval"})
    with pytest.raises(CatalogueError, match="no such matter"):
        with_variants({"region": "330106", "matter": "moon-landing", "committed_days": 1})


def test_a_variant_for_a_region_outside_the_province_is_found() -> None:
    catalogue = with_variants(
        {"region": "320106", "matter": "construction-joint-approval", "committed_days": 20}
    )
    assert catalogue.regional_problems(default_jurisdictions()) == [
        "variant of construction-joint-approval: no division 320106 in the province"
    ]
