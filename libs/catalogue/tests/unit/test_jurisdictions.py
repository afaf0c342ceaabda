"""Jurisdictions: codes say their level and parent (GB/T 2260 and the township
extension), the shipped sample province is a tree, and a malformed file is refused with
every problem named."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from onceonly.catalogue.jurisdictions import (
    JurisdictionError,
    Level,
    UnknownDivision,
    default_jurisdictions,
    level_of,
    parent_code,
    parse_jurisdictions,
)


def test_codes_say_their_level_and_parent() -> None:
    assert level_of("330000") is Level.PROVINCE
    assert level_of("330100") is Level.CITY
    assert level_of("330106") is Level.COUNTY
    assert level_of("330106001") is Level.TOWNSHIP
    assert level_of("330106001002") is Level.VILLAGE
    assert parent_code("330106001002") == "330106001"
    assert parent_code("330106001") == "330106"
    assert parent_code("330106") == "330100"
    assert parent_code("330100") == "330000"
    assert parent_code("330000") is None


@pytest.mark.parametrize("bad", ["", "33010", "3301060", "33010600", "000000", "33O106", " 330106"])
def test_malformed_codes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a division code"):
        level_of(bad)


def test_the_sample_province_has_two_cities_four_counties_and_townships() -> None:
    province = default_jurisdictions()
    by_level = {level: [d for d in province.divisions if d.level is level] for level in Level}
    assert [d.code for d in by_level[Level.PROVINCE]] == ["330000"]
    assert len(by_level[Level.CITY]) >= 2
    assert len(by_level[Level.COUNTY]) >= 4
    assert len(by_level[Level.TOWNSHIP]) >= 3


def test_within_answers_for_a_scope_and_what_lies_under_it() -> None:
    province = default_jurisdictions()
    assert province.within("330106001", "330106")
    assert province.within("330106001", "330100")
    assert province.within("330106001", "330000")
    assert province.within("330106", "330106")
    # A county is not within another county, nor a city within its county.
    assert not province.within("330102", "330106")
    assert not province.within("330100", "330106")
    assert not province.within("330203", "330100")
    # Unknown codes lie nowhere.
    assert not province.within("330199", "330100")
    assert not province.within("330106", "330199")


def test_the_division_of_a_level_a_place_belongs_to() -> None:
    province = default_jurisdictions()
    assert province.at_level("330106001", Level.COUNTY).code == "330106"
    assert province.at_level("330106001", Level.CITY).code == "330100"
    assert province.at_level("330106", Level.COUNTY).code == "330106"
    with pytest.raises(ValueError, match="above the county"):
        province.at_level("330100", Level.COUNTY)
    with pytest.raises(UnknownDivision):
        province.at_level("330199", Level.CITY)


def test_under_a_city_lists_its_counties_and_townships_only() -> None:
    province = default_jurisdictions()
    under = {d.code for d in province.under("330200")}
    assert under == {"330200", "330203", "330203001", "330212", "330212001"}
    assert {d.code for d in province.children("330100")} == {"330102", "330106", "330110"}


def test_names_read_as_people_say_them() -> None:
    province = default_jurisdictions()
    assert province.name("330106001") == "杭州市西湖区北山街道"
    assert province.name("330106001", "en") == "Beishan Subdistrict, Xihu District, Hangzhou"
    assert province.name("330000") == "浙江省"


def write(divisions: list[dict[str, str]]) -> str:
    return yaml.safe_dump({"divisions": divisions}, allow_unicode=True)


def division(code: str) -> dict[str, str]:
    return {"code": code, "name_zh": f"区划{code}", "name_en": f"Division {code}"}


def test_a_division_whose_parent_is_missing_is_refused() -> None:
    text = write([division("330000"), division("330106")])
    with pytest.raises(JurisdictionError, match=r"330106 .*330100, not listed"):
        parse_jurisdictions(text, origin="broken.yaml")


def test_a_repeated_code_and_a_second_province_are_refused() -> None:
    with pytest.raises(JurisdictionError, match="appears twice: 330000"):
        parse_jurisdictions(write([division("330000"), division("330000")]))
    with pytest.raises(JurisdictionError, match="exactly one province"):
        parse_jurisdictions(write([division("330000"), division("320000")]))


def test_a_nameless_division_and_a_bad_code_are_refused_naming_the_place() -> None:
    nameless = {"code": "330000", "name_zh": " ", "name_en": "Zhejiang"}
    with pytest.raises(JurisdictionError, match=r"broken\.yaml: divisions\.0"):
        parse_jurisdictions(write([nameless]), origin="broken.yaml")
    with pytest.raises(JurisdictionError, match="not a division code"):
        parse_jurisdictions(write([division("330000"), division("33010")]))


@given(st.sampled_from([d.code for d in default_jurisdictions().divisions]))
def test_every_division_lies_within_each_division_of_its_chain(code: str) -> None:
    province = default_jurisdictions()
    chain = province.chain(code)
    assert chain[0].level is Level.PROVINCE and chain[-1].code == code
    assert [d.level.depth for d in chain] == sorted(d.level.depth for d in chain)
    assert all(province.within(code, d.code) for d in chain)
    assert all(code in {u.code for u in province.under(d.code)} for d in chain)
