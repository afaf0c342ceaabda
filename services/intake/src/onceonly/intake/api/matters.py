"""The service catalogue (事项清单) and each matter's guide (办事指南): public."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from typing import Annotated

from fastapi import APIRouter, Path

from onceonly.intake.api.dependencies import MatterCatalogue
from onceonly.intake.problems import documented, not_found
from onceonly.intake.schemas import MatterGuide, MatterList, MatterSummary

router = APIRouter(tags=["catalogue"])


@router.get(
    "/v1/matters",
    response_model=MatterList,
    summary="The service catalogue (事项清单)",
    description="Public: every matter that can be applied for, to build forms from.",
    responses=documented(503),
)
async def list_matters(catalogue: MatterCatalogue) -> MatterList:
    return MatterList(matters=[MatterSummary.of(matter) for matter in catalogue.matters])


@router.get(
    "/v1/matters/{matter_code}",
    response_model=MatterGuide,
    summary="One matter's guide (办事指南)",
    description="Departments and their committed limits, materials, shared-data checks.",
    responses=documented(404, 503),
)
async def read_matter(
    matter_code: Annotated[str, Path(max_length=64, examples=["household-transfer"])],
    catalogue: MatterCatalogue,
) -> MatterGuide:
    matter = catalogue.matter(matter_code)
    if matter is None:
        raise not_found(f"Matter {matter_code}")
    return MatterGuide.of_matter(matter, catalogue)
