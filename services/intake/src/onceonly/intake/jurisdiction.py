"""Which division decides an application (属地管辖, 全省通办): the matter's competent
level above the place the application concerns, wherever it was submitted.

Pure: the province's jurisdictions and the matter in, the competent division or the
issues with the request out.
"""

from __future__ import annotations

from dataclasses import dataclass

from onceonly.catalogue import Matter
from onceonly.catalogue.jurisdictions import Jurisdictions, is_division_code
from onceonly.intake.errors import FieldIssue


@dataclass(frozen=True, slots=True)
class Routing:
    submitted_region: str  # the service centre's (or channel's) division
    competent_region: str  # the division whose bodies decide


def route(
    matter: Matter,
    place: str | None,
    *,
    submitted_region: str,
    jurisdictions: Jurisdictions,
) -> Routing | FieldIssue:
    """The division of the matter's competent level that `place` (the premises, the
    project, the household) lies in. Without a place, the service centre's own
    division: where that is above the matter's level (a city centre, a county-level
    matter), the application goes to the centre's division, whose bodies pass it on."""
    concerned = place if place is not None else submitted_region
    level = matter.competent_level
    if place is None and concerned not in jurisdictions:
        # A centre the jurisdictions do not list (another province's data not loaded):
        # its applications stay with it.
        return Routing(submitted_region=submitted_region, competent_region=submitted_region)
    if not is_division_code(concerned) or concerned not in jurisdictions:
        return FieldIssue(
            "region_code",
            "unknown_region",
            f"{concerned!r} is no division of {jurisdictions.province.name_en}: give its"
            " six-digit code (GB/T 2260) or a nine-digit township code.",
            f"{concerned!r} 不是{jurisdictions.province.name_zh}的行政区划代码:"
            " 请填写六位代码 (GB/T 2260) 或九位乡镇街道代码.",
        )
    division = jurisdictions.get(concerned)
    if division.level.depth < level.depth and place is None:
        return Routing(submitted_region=submitted_region, competent_region=concerned)
    if division.level.depth < level.depth:
        return FieldIssue(
            "region_code",
            "region_too_broad",
            f"Matter {matter.code} is decided by a {level.value}: name the {level.value}"
            f" (or a division under it) that the application concerns, not"
            f" {jurisdictions.name(concerned, 'en')}.",
            f"事项 {matter.name_zh} 由{_LEVEL_ZH[level.value]}级部门办理: 请填写申请所涉的"
            f"{_LEVEL_ZH[level.value]} (或其下的区划), 而不是{jurisdictions.name(concerned)}.",
        )
    return Routing(
        submitted_region=submitted_region,
        competent_region=jurisdictions.at_level(concerned, level).code,
    )


_LEVEL_ZH = {
    "province": "省",
    "city": "市",
    "county": "县区",
    "township": "乡镇街道",
    "village": "村社区",
}
