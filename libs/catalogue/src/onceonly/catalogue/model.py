"""The service catalogue (事项清单) as typed, validated data."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from onceonly.catalogue.forms import DIALECT, FormSchema, FormSchemaError
from onceonly.catalogue.jurisdictions import Jurisdictions, Level, is_division_code


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


class VariantKind(StrEnum):
    """What a region may change of a matter the province publishes, where the matter
    allows it (同一事项无差别受理: everything else is the same everywhere)."""

    SHORTER_LIMIT = "shorter_limit"  # a shorter committed limit
    EXTRA_MATERIAL = "extra_material"  # a local material on top of the province's


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
    # 属地管辖: the level of government whose bodies decide (a county-level matter goes to
    # the county the application concerns, wherever it was submitted).
    competent_level: Level = Level.COUNTY
    # The local variants the province allows for this matter (none by default).
    local_variants: tuple[VariantKind, ...] = ()
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


class LocalVariant(_Strict):
    """A region's variant of a province matter: a shorter committed limit, extra local
    materials, or both. It applies to the region and everything under it; a county's
    variant wins over its city's limit, and materials add up along the chain."""

    region: str
    matter: str
    committed_days: int | None = Field(default=None, ge=0)
    extra_materials: tuple[Material, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> LocalVariant:
        if not is_division_code(self.region):
            raise ValueError(f"variant of {self.matter}: {self.region!r} is not a division code")
        if self.committed_days is None and not self.extra_materials:
            raise ValueError(f"variant of {self.matter} in {self.region} changes nothing")
        return self

    @property
    def kinds(self) -> set[VariantKind]:
        found = set()
        if self.committed_days is not None:
            found.add(VariantKind.SHORTER_LIMIT)
        if self.extra_materials:
            found.add(VariantKind.EXTRA_MATERIAL)
        return found


class Catalogue(_Strict):
    departments: tuple[Department, ...]
    matters: tuple[Matter, ...]
    variants: tuple[LocalVariant, ...] = ()

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
        problems = [problem for v in self.variants for problem in self._variant_problems(v)]
        places = [(v.region, v.matter) for v in self.variants]
        problems += [
            f"two variants of {m} in {r}" for r, m in set(places) if places.count((r, m)) > 1
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _variant_problems(self, variant: LocalVariant) -> list[str]:
        matter = self.matter(variant.matter)
        where = f"variant of {variant.matter} in {variant.region}"
        if matter is None:
            return [f"{where}: no such matter"]
        problems = [
            f"{where}: the province does not allow a {kind.value} for this matter"
            for kind in sorted(variant.kinds - set(matter.local_variants))
        ]
        days = variant.committed_days
        if days is not None and days >= matter.committed_days:
            problems.append(
                f"{where}: {days} days is not shorter than the province's {matter.committed_days}"
            )
        if days is not None and matter.kind is MatterKind.COMMITTED:
            longest = max(task.committed_days for task in matter.tasks)
            if days < longest:
                problems.append(f"{where}: {days} days is shorter than a task's {longest}")
        clashes = {m.code for m in variant.extra_materials} & {m.code for m in matter.materials}
        if clashes:
            problems.append(f"{where}: materials already the province's: {sorted(clashes)}")
        return problems

    def regional_problems(self, jurisdictions: Jurisdictions) -> list[str]:
        """Variants for regions the jurisdictions do not have."""
        return [
            f"variant of {v.matter}: no division {v.region} in the province"
            for v in self.variants
            if v.region not in jurisdictions
        ]

    def matter_in(self, code: str, region: str, jurisdictions: Jurisdictions) -> Matter | None:
        """The matter as published for `region`: the province's, with the variants of
        the region and of the divisions above it applied."""
        matter = self.matter(code)
        if matter is None or not self.variants or region not in jurisdictions:
            return matter
        chain = [d.code for d in jurisdictions.chain(region)]
        applying = sorted(
            (v for v in self.variants if v.matter == code and v.region in chain),
            key=lambda v: chain.index(v.region),
        )
        if not applying:
            return matter
        days = [v.committed_days for v in applying if v.committed_days is not None]
        extra = tuple(m for v in applying for m in v.extra_materials)
        return matter.model_copy(
            update={
                "committed_days": days[-1] if days else matter.committed_days,
                "materials": matter.materials + extra,
            }
        )

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
