"""The shipped catalogue holds DOMAIN.md's five sample matters with their committed
limits, and a malformed catalogue is refused with an error naming the place."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from onceonly.catalogue import (
    Catalogue,
    CatalogueError,
    DayKind,
    MatterKind,
    default_catalogue,
    is_department,
    load_catalogue,
)
from onceonly.catalogue.loader import parse_catalogue

SHIPPED_TEXT = (
    resources.files("onceonly.catalogue").joinpath("data", "matters.yaml").read_text("utf-8")
)


@pytest.fixture
def raw() -> dict[str, Any]:
    """The shipped catalogue as plain data, to break in one place per test."""
    return yaml.safe_load(SHIPPED_TEXT)


def parse(raw: dict[str, Any]) -> Catalogue:
    return parse_catalogue(yaml.safe_dump(raw, allow_unicode=True), origin="broken.yaml")


def matter_index(raw: dict[str, Any], code: str) -> int:
    return next(i for i, matter in enumerate(raw["matters"]) if matter["code"] == code)


def committed(catalogue: Catalogue, code: str) -> dict[str, int]:
    matter = catalogue.matter(code)
    assert matter is not None, code
    return {task.department: task.committed_days for task in matter.tasks}


# -- the shipped catalogue --------------------------------------------------------------


def test_the_shipped_catalogue_has_the_five_matters() -> None:
    catalogue = default_catalogue()
    assert {matter.code for matter in catalogue.matters} >= {
        "business-startup",
        "construction-joint-approval",
        "household-transfer",
        "housing-fund-loan",
        "birth-of-child",
    }
    assert load_catalogue() is catalogue  # cached: loaded once per process
    assert catalogue.matter("no-such-matter") is None


def test_business_startup_is_three_working_days_over_four_departments() -> None:
    catalogue = default_catalogue()
    matter = catalogue.matter("business-startup")
    assert matter is not None
    assert (matter.kind, matter.day_kind, matter.committed_days, matter.legal_days) == (
        MatterKind.COMMITTED,
        DayKind.WORKING,
        3,
        11,  # "was 11"
    )
    assert matter.bundle
    assert committed(catalogue, "business-startup") == {
        "market-regulation": 1,
        "public-security": 1,
        "tax": 1,
        "human-resources": 1,
    }


def test_construction_is_twenty_five_working_days_legal_thirty() -> None:
    catalogue = default_catalogue()
    matter = catalogue.matter("construction-joint-approval")
    assert matter is not None
    assert (matter.day_kind, matter.committed_days, matter.legal_days) == (DayKind.WORKING, 25, 30)
    assert matter.joint_inspection_allowed
    assert committed(catalogue, "construction-joint-approval") == {
        "development-reform": 5,
        "natural-resources": 10,
        "housing-construction": 7,
        "fire": 10,
        "civil-air-defence": 5,
    }


def test_household_transfer_is_ten_natural_days_at_one_department() -> None:
    matter = default_catalogue().matter("household-transfer")
    assert matter is not None
    assert (matter.day_kind, matter.committed_days) == (DayKind.NATURAL, 10)
    assert matter.department_codes == ("public-security",)


def test_housing_fund_loan_is_auto_approved_on_shared_data() -> None:
    matter = default_catalogue().matter("housing-fund-loan")
    assert matter is not None
    assert matter.kind is MatterKind.INSTANT and matter.auto_approval
    assert matter.department_codes == ("housing-fund",)
    assert set(matter.shared_data_checks) >= {
        "population",
        "marriage",
        "real-estate",
        "social-insurance",
        "credit",
    }
    # Every certificate is looked up instead of asked for (免证办).
    assert all(material.replaced_by_check for material in matter.materials[1:])


def test_birth_of_a_child_is_five_working_days_over_four_departments() -> None:
    catalogue = default_catalogue()
    matter = catalogue.matter("birth-of-child")
    assert matter is not None
    assert (matter.day_kind, matter.committed_days, matter.bundle) == (DayKind.WORKING, 5, True)
    assert set(committed(catalogue, "birth-of-child")) == {
        "health",
        "public-security",
        "medical-insurance",
        "human-resources",
    }


def test_the_shipped_data_is_consistent() -> None:
    catalogue = default_catalogue()
    for matter in catalogue.matters:
        assert matter.name_zh and matter.name_en
        for task in matter.tasks:
            assert catalogue.department(task.department) is not None, task.department
            assert task.committed_days <= matter.committed_days or matter.kind is MatterKind.INSTANT
            if task.legal_days is not None:
                assert task.committed_days <= task.legal_days, (matter.code, task.department)
        checks = set(matter.shared_data_checks)
        for material in matter.materials:
            assert material.replaced_by_check in checks | {None}
    codes = [department.code for department in catalogue.departments]
    assert len(codes) == len(set(codes))


def test_staff_departments_are_the_catalogues() -> None:
    # What every staff API checks a reviewer's or a department head's token against.
    assert all(is_department(dept.code) for dept in default_catalogue().departments)
    for code in ("no-such-department", "", "supervision-office", "Public-Security"):
        assert not is_department(code)


def test_load_catalogue_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "matters.yaml"
    path.write_text(SHIPPED_TEXT, encoding="utf-8")
    assert load_catalogue(path) == default_catalogue()


# -- malformed catalogues ----------------------------------------------------------------


def test_unknown_department(raw: dict[str, Any]) -> None:
    raw["matters"][matter_index(raw, "birth-of-child")]["tasks"][0]["department"] = "mystery"
    with pytest.raises(CatalogueError, match=r"^broken\.yaml: ") as caught:
        parse(raw)
    assert "matter birth-of-child: unknown department 'mystery'" in str(caught.value)


def test_duplicate_matter_code(raw: dict[str, Any]) -> None:
    raw["matters"].append(copy.deepcopy(raw["matters"][matter_index(raw, "household-transfer")]))
    with pytest.raises(CatalogueError, match=r"^broken\.yaml: .*a matter code appears twice"):
        parse(raw)


def test_duplicate_matter_code_is_named(raw: dict[str, Any]) -> None:
    raw["matters"].append(copy.deepcopy(raw["matters"][matter_index(raw, "household-transfer")]))
    with pytest.raises(CatalogueError, match="household-transfer"):
        parse(raw)


def test_committed_limit_above_the_legal_limit(raw: dict[str, Any]) -> None:
    index = matter_index(raw, "construction-joint-approval")
    raw["matters"][index]["committed_days"] = 31
    with pytest.raises(CatalogueError) as caught:
        parse(raw)
    message = str(caught.value)
    assert message.startswith(f"broken.yaml: matters.{index}: ")
    assert "matter construction-joint-approval: committed limit exceeds the legal limit" in message


def test_task_committed_above_the_matter(raw: dict[str, Any]) -> None:
    index = matter_index(raw, "business-startup")
    raw["matters"][index]["tasks"][2]["committed_days"] = 4
    with pytest.raises(CatalogueError, match="task of tax is committed to more days"):
        parse(raw)


def test_task_committed_above_its_legal_limit(raw: dict[str, Any]) -> None:
    index = matter_index(raw, "construction-joint-approval")
    raw["matters"][index]["tasks"][0]["committed_days"] = 8  # legal 7
    with pytest.raises(CatalogueError, match="development-reform"):
        parse(raw)


def test_duplicate_department_code(raw: dict[str, Any]) -> None:
    raw["departments"].append(dict(raw["departments"][0]))
    with pytest.raises(CatalogueError, match="market-regulation"):
        parse(raw)


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "matters.yaml"
    path.write_text(SHIPPED_TEXT.replace("  - code: household-transfer", "  - code: [oops"))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not valid YAML")
    assert "line " in message


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "departments: []\n"])
def test_not_a_catalogue(text: str) -> None:
    with pytest.raises(CatalogueError, match=r"^odd\.yaml: "):
        parse_catalogue(text, origin="odd.yaml")


def test_unknown_check_referenced_by_a_material(raw: dict[str, Any]) -> None:
    index = matter_index(raw, "housing-fund-loan")
    raw["matters"][index]["materials"][1]["replaced_by_check"] = "dna"
    with pytest.raises(CatalogueError) as caught:
        parse(raw)
    message = str(caught.value)
    assert message.startswith(f"broken.yaml: matters.{index}: ")
    assert "material resident-id names unknown check dna" in message


def test_auto_approval_without_checks(raw: dict[str, Any]) -> None:
    index = matter_index(raw, "housing-fund-loan")
    matter = raw["matters"][index]
    matter["shared_data_checks"] = []
    for material in matter["materials"]:
        material.pop("replaced_by_check", None)
    with pytest.raises(CatalogueError, match="auto-approval needs shared-data checks"):
        parse(raw)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("day_kind",), "lunar", "day_kind"),
        (("kind",), "eventually", "kind"),
        (("committed_days",), -1, "committed_days"),
        (("colour",), "red", "colour"),  # unknown keys are mistakes, not extensions
        (("code",), "Business Startup", "code"),
        (("tasks",), [], "tasks"),
    ],
)
def test_field_errors_name_the_field(
    raw: dict[str, Any], path: tuple[str, ...], value: object, where: str
) -> None:
    index = matter_index(raw, "business-startup")
    raw["matters"][index][path[0]] = value
    with pytest.raises(CatalogueError, match=rf"^broken\.yaml: matters\.{index}\.{where}"):
        parse(raw)


def test_special_procedures_have_a_maximum_length_with_defaults() -> None:
    catalogue = default_catalogue()
    construction = catalogue.matter("construction-joint-approval")
    household = catalogue.matter("household-transfer")
    assert construction is not None and household is not None
    assert construction.special_procedure_limits == {
        "expert_review": 15,
        "hearing": 20,
        "public_notice": 15,
        "on_site_inspection": 5,
    }
    assert household.special_procedure_limits["on_site_inspection"] == 10  # the default


@pytest.mark.parametrize("limits", [{"lunch_break": 3}, {"hearing": 0}])
def test_an_unknown_procedure_or_a_maximum_below_one_day_is_refused(
    raw: dict[str, Any], limits: dict[str, int]
) -> None:
    raw["matters"][matter_index(raw, "household-transfer")]["special_procedure_max_days"] = limits
    with pytest.raises(CatalogueError, match="special procedure maximum"):
        parse(raw)
