"""The service catalogue (matters) and the working-day calendar: pure domain code."""

from onceonly.catalogue.loader import (
    CatalogueError,
    default_catalogue,
    is_department,
    load_catalogue,
)
from onceonly.catalogue.model import (
    Catalogue,
    DayKind,
    Department,
    DepartmentTask,
    Material,
    Matter,
    MatterKind,
)

__all__ = [
    "Catalogue",
    "CatalogueError",
    "DayKind",
    "Department",
    "DepartmentTask",
    "Material",
    "Matter",
    "MatterKind",
    "default_catalogue",
    "is_department",
    "load_catalogue",
]
