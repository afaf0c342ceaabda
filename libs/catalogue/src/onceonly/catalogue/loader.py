"""Loading the catalogue file, with errors that name the place that is wrong."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from onceonly.catalogue.jurisdictions import default_jurisdictions
from onceonly.catalogue.model import Catalogue
from onceonly.catalogue.yaml_data import parse_yaml_model


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message lists every problem found."""


def parse_catalogue(text: str, *, origin: str = "<catalogue>") -> Catalogue:
    return parse_yaml_model(Catalogue, text, origin=origin, error=CatalogueError)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue at `path`, or the one shipped with this package."""
    if path is not None:
        return parse_catalogue(path.read_text(encoding="utf-8"), origin=str(path))
    return default_catalogue()


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    text = resources.files("onceonly.catalogue").joinpath("data/matters.yaml").read_text("utf-8")
    catalogue = parse_catalogue(text, origin="onceonly.catalogue/data/matters.yaml")
    # Its local variants name regions of the province shipped beside it.
    problems = catalogue.regional_problems(default_jurisdictions())
    if problems:
        raise CatalogueError(f"onceonly.catalogue/data/matters.yaml: {'; '.join(problems)}")
    return catalogue


def is_department(code: str) -> bool:
    """Whether `code` is a department of the published catalogue: what every staff API
    checks the department of a reviewer's or a department head's token against."""
    return default_catalogue().department(code) is not None
