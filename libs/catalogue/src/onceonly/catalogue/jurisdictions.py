"""Jurisdictions (行政区划): the province's administrative divisions as validated data.

Codes follow GB/T 2260 and its township extension: a province `XX0000`, a city `XXXX00`,
a county (district, county-level city) `XXXXXX`, a township (street, town) the county's
six digits and three more, a village (community) the township's nine and three more. A
code says its own level and its parent, so the data is checked against its codes: a
county listed under a city it does not belong to is refused at load, not found later
in a figure that does not add up.

What the rest of the system asks of it: which division a code names, whether one
division lies within another (a city supervisor's scope holds its counties), which
division of a given level a place belongs to (the competent body of a county-level
matter for an address in a township), and every division under a scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from onceonly.catalogue.yaml_data import parse_yaml_model


class Level(StrEnum):
    """The five levels of government (省市县乡村), from the top."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"

    @property
    def depth(self) -> int:
        return _DEPTHS[self]  # a lookup: routing asks it of every submission


_DEPTHS = {level: depth for depth, level in enumerate(Level)}


_CODE = re.compile(r"^(?:[0-9]{6}|[0-9]{9}|[0-9]{12})$")


class JurisdictionError(ValueError):
    """The jurisdictions file is malformed; the message lists every problem found."""


class UnknownDivision(KeyError):
    """No division of the province has this code."""


def level_of(code: str) -> Level:
    """The level a well-formed code names by its shape (GB/T 2260 and its extension)."""
    if not _CODE.match(code) or code[:2] == "00":
        raise ValueError(f"{code!r} is not a division code (6, 9 or 12 digits, GB/T 2260)")
    if len(code) == 12:
        return Level.VILLAGE
    if len(code) == 9:
        return Level.TOWNSHIP
    if code[2:] == "0000":
        return Level.PROVINCE
    if code[4:] == "00":
        return Level.CITY
    return Level.COUNTY


def parent_code(code: str) -> str | None:
    """The code of the division directly above, by the code's shape; None for a province."""
    level = level_of(code)
    if level is Level.PROVINCE:
        return None
    if level is Level.CITY:
        return code[:2] + "0000"
    if level is Level.COUNTY:
        return code[:4] + "00"
    return code[: len(code) - 3]


def is_division_code(code: str) -> bool:
    try:
        level_of(code)
    except ValueError:
        return False
    return True


class Division(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name_zh: str
    name_en: str

    @cached_property
    def level(self) -> Level:
        return level_of(self.code)

    @model_validator(mode="after")
    def _named(self) -> Division:
        level_of(self.code)
        if not self.name_zh.strip() or not self.name_en.strip():
            raise ValueError(f"division {self.code}: a name in Chinese and in English")
        return self


class Jurisdictions(BaseModel):
    """One province and what lies under it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    divisions: tuple[Division, ...]

    @model_validator(mode="after")
    def _a_tree(self) -> Jurisdictions:
        codes = [d.code for d in self.divisions]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"a division code appears twice: {', '.join(repeated)}")
        provinces = [d.code for d in self.divisions if d.level is Level.PROVINCE]
        if len(provinces) != 1:
            raise ValueError(f"exactly one province, not {len(provinces)}: {provinces}")
        known = set(codes)
        orphans = [
            f"{c} (its {level_of(c).value} belongs under {parent_code(c)}, not listed)"
            for c in codes
            if (parent := parent_code(c)) is not None and parent not in known
        ]
        if orphans:
            raise ValueError(f"divisions outside the tree: {'; '.join(orphans)}")
        return self

    @cached_property
    def _by_code(self) -> dict[str, Division]:
        return {d.code: d for d in self.divisions}

    @property
    def province(self) -> Division:
        return next(d for d in self.divisions if d.level is Level.PROVINCE)

    def get(self, code: str) -> Division:
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownDivision(code) from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    @cached_property
    def _chains(self) -> dict[str, tuple[Division, ...]]:
        # Filled by `chain`, one entry per division asked for (unknown codes raise), so
        # no larger than the tree: routing and scope checks ask it per request.
        return {}

    def chain(self, code: str) -> tuple[Division, ...]:
        """The divisions from the province down to `code`, both included."""
        known = self._chains.get(code)
        if known is not None:
            return known
        found = [self.get(code)]
        while (parent := parent_code(found[-1].code)) is not None:
            found.append(self.get(parent))
        known = self._chains[code] = tuple(reversed(found))
        return known

    def within(self, code: str, scope: str) -> bool:
        """Whether `code` is `scope` or lies under it (unknown codes lie nowhere)."""
        if code not in self or scope not in self:
            return False
        return any(d.code == scope for d in self.chain(code))

    def at_level(self, code: str, level: Level) -> Division:
        """The division of `level` that `code` belongs to: itself at its own level; a
        division above its own level cannot be answered from below it."""
        level = Level(level)
        division = self.get(code)
        if division.level.depth < level.depth:
            raise ValueError(f"{code} is a {division.level.value}, above the {level.value} asked")
        return next(d for d in self.chain(code) if d.level is level)

    def under(self, scope: str) -> Iterator[Division]:
        """`scope` and every division under it, in file order."""
        self.get(scope)
        return (d for d in self.divisions if self.within(d.code, scope))

    def children(self, code: str) -> tuple[Division, ...]:
        self.get(code)
        return tuple(d for d in self.divisions if parent_code(d.code) == code)

    def name(self, code: str, language: str = "zh") -> str:
        """The full name from the city down (杭州市西湖区), as a person would say it."""
        parts = [d for d in self.chain(code) if d.level is not Level.PROVINCE] or [self.get(code)]
        if language == "en":
            return ", ".join(d.name_en for d in reversed(parts))
        return "".join(d.name_zh for d in parts)


def parse_jurisdictions(text: str, *, origin: str = "<jurisdictions>") -> Jurisdictions:
    return parse_yaml_model(Jurisdictions, text, origin=origin, error=JurisdictionError)


def load_jurisdictions(path: Path | None = None) -> Jurisdictions:
    """The jurisdictions at `path`, or the sample province shipped with this package."""
    if path is not None:
        return parse_jurisdictions(path.read_text(encoding="utf-8"), origin=str(path))
    return default_jurisdictions()


@lru_cache(maxsize=1)
def default_jurisdictions() -> Jurisdictions:
    data = resources.files("onceonly.catalogue").joinpath("data/jurisdictions.yaml")
    return parse_jurisdictions(
        data.read_text("utf-8"), origin="onceonly.catalogue/data/jurisdictions.yaml"
    )
