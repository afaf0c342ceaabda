"""The service catalogue (事项清单) as typed, validated data."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from onceonly.catalogue.forms import DIALECT, FormSchema, FormSchemaError


class DayKind(StrEnum):
    WORKING = "working"
    NATURAL = "natural"


class MatterKind(StrEnum):
    INSTANT = "instant"  # 即办件
    COMMITTED = "committed"  # 承诺件


# 特别程序: the most days (of the matter's kind) each special procedure may take before
# e-supervision alerts, where a matter does not say. A hearing within 20 days of its
# request (Administrative Licensing Law art. 47); the others are service-centre practice.
DEFAULT_SPECIAL_PROCEDURE_DAYS: dict[str, int] = {
    "expert_review": 20,
    "hearing": 20,
    "public_notice": 15,
    "on_site_inspection": 10,
}


class ApplicantKinds(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"
    ANY = "any"


# A matter that publishes no form schema takes no form fields (unknown fields refused).
EMPTY_FORM_SCHEMA: dict[str, Any] = {
    "$schema": DIALECT,
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Department(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    name_zh: str
    name_en: str


class Material(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,60}$")
    name_zh: str
    name_en: str
    # 容缺: may follow after acceptance, before completion.
    deficiency_tolerable: bool = False
    # Replaced by a shared-data check when that check passes (免证办).
    replaced_by_check: str | None = None


class DepartmentTask(_Strict):
    department: str
    task_zh: str
    task_en: str
    committed_days: int = Field(ge=0)
    legal_days: int | None = Field(default=None, ge=0)
    notify_applicant_of_decision: bool = True


class Matter(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,60}$")
    name_zh: str
    name_en: str
    kind: MatterKind
    applicant_kinds: ApplicantKinds = ApplicantKinds.ANY
    bundle: bool = False
    day_kind: DayKind = DayKind.WORKING
    committed_days: int = Field(ge=0)
    legal_days: int | None = Field(default=None, ge=0)
    tasks: tuple[DepartmentTask, ...] = Field(min_length=1)
    materials: tuple[Material, ...] = ()
    shared_data_checks: tuple[str, ...] = ()
    auto_approval: bool = False
    joint_inspection_allowed: bool = False
    # 牵头部门: coordinates a multi-department matter (returns, added departments).
    lead_department: str | None = None
    # 延期: the most working (or natural) days one task may be extended by in total;
    # unset, the Administrative Licensing Law's defaults (art. 42): 10 for a matter of one
    # department, 15 for joint handling.
    extension_days: int | None = Field(default=None, ge=0, le=60)
    # 受理审查: window staff accept or refuse (不予受理决定) within this many working days;
    # unanswered, the application counts as accepted (Administrative Licensing Law art. 32:
    # five days). Unset: complete applications are accepted at once.
    acceptance_review_days: int | None = Field(default=None, ge=1, le=5)
    # 特别程序: the most days each kind of special procedure may take (kinds left out keep
    # DEFAULT_SPECIAL_PROCEDURE_DAYS).
    special_procedure_max_days: dict[str, int] = Field(default_factory=dict)
    elicence_type: str | None = None
    # How long the issued e-licence is valid; None for long-term results.
    elicence_valid_days: int | None = Field(default=None, ge=1)
    fee_yuan: float = 0.0
    # The application form (JSON Schema draft 2020-12); `x-personal` marks personal fields.
    form_schema: dict[str, Any] = Field(default_factory=lambda: dict(EMPTY_FORM_SCHEMA))

    @model_validator(mode="after")
    def _consistent(self) -> Matter:
        try:
            # Compiled once here: a bad schema fails the catalogue at load, not a request.
            _ = self.form
        except FormSchemaError as exc:
            raise ValueError(f"matter {self.code}: {exc}") from None
        departments = [task.department for task in self.tasks]
        if len(set(departments)) != len(departments):
            raise ValueError(f"matter {self.code}: a department appears twice in tasks")
        codes = [material.code for material in self.materials]
        if len(set(codes)) != len(codes):
            raise ValueError(f"matter {self.code}: a material code appears twice")
        if self.legal_days is not None and self.committed_days > self.legal_days:
            raise ValueError(f"matter {self.code}: committed limit exceeds the legal limit")
        for task in self.tasks:
            if task.legal_days is not None and task.committed_days > task.legal_days:
                raise ValueError(
                    f"matter {self.code}: task of {task.department} is committed to more days"
                    " than its legal limit"
                )
            if task.committed_days > self.committed_days and self.kind is MatterKind.COMMITTED:
                raise ValueError(
                    f"matter {self.code}: task of {task.department} is committed to more days"
                    " than the matter"
                )
        for material in self.materials:
            check = material.replaced_by_check
            if check is not None and check not in self.shared_data_checks:
                raise ValueError(
                    f"matter {self.code}: material {material.code} names unknown check {check}"
                )
        for kind, days in self.special_procedure_max_days.items():
            if kind not in DEFAULT_SPECIAL_PROCEDURE_DAYS or days < 1:
                raise ValueError(f"matter {self.code}: bad special procedure maximum {kind}")
        if self.auto_approval and not self.shared_data_checks:
            raise ValueError(f"matter {self.code}: auto-approval needs shared-data checks")
        if len(self.tasks) > 1 and self.lead_department is None:
            raise ValueError(f"matter {self.code}: a multi-department matter names its lead")
        if self.lead_department is not None and self.lead_department not in departments:
            raise ValueError(
                f"matter {self.code}: lead department {self.lead_department} has no task"
            )
        return self

    @cached_property
    def form(self) -> FormSchema:
        """The compiled form schema, with its personal fields."""
        return FormSchema(self.form_schema, origin="form_schema")

    @property
    def extension_bound(self) -> int:
        """The most days one task may be extended by (延期), in the matter's day kind."""
        if self.extension_days is not None:
            return self.extension_days
        return 15 if len(self.tasks) > 1 else 10

    @property
    def special_procedure_limits(self) -> dict[str, int]:
        """The most days each kind of special procedure may take, in the matter's days."""
        return DEFAULT_SPECIAL_PROCEDURE_DAYS | dict(self.special_procedure_max_days)

    def task_for(self, department: str) -> DepartmentTask | None:
        return next((task for task in self.tasks if task.department == department), None)

    @property
    def department_codes(self) -> tuple[str, ...]:
        return tuple(task.department for task in self.tasks)


class Catalogue(_Strict):
    departments: tuple[Department, ...]
    matters: tuple[Matter, ...]

    @model_validator(mode="after")
    def _references(self) -> Catalogue:
        department_codes = [department.code for department in self.departments]
        repeated = sorted({code for code in department_codes if department_codes.count(code) > 1})
        if repeated:
            raise ValueError(f"a department code appears twice: {', '.join(repeated)}")
        known = set(department_codes)
        for matter in self.matters:
            for task in matter.tasks:
                if task.department not in known:
                    raise ValueError(
                        f"matter {matter.code}: unknown department {task.department!r}"
                    )
        codes = [matter.code for matter in self.matters]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"a matter code appears twice: {', '.join(repeated)}")
        return self

    def matter(self, code: str) -> Matter | None:
        return next((matter for matter in self.matters if matter.code == code), None)

    def department(self, code: str) -> Department | None:
        return next((dept for dept in self.departments if dept.code == code), None)

    def material(self, code: str) -> Material | None:
        """A material by its code, from whichever matter names it first (the codes are
        the catalogue's: a department's supplement request names no matter)."""
        return self._materials.get(code)

    @cached_property
    def _materials(self) -> dict[str, Material]:
        found: dict[str, Material] = {}
        for matter in self.matters:
            for material in matter.materials:
                found.setdefault(material.code, material)
        return found
