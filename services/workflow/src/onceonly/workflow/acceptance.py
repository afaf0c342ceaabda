"""Acceptance (受理): is the application complete enough to start? Pure code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class AcceptanceOutcome(StrEnum):
    ACCEPTED = "accepted"
    ACCEPTED_WITH_DEFICIENCY = "accepted_with_deficiency"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    REFUSED = "refused"


@dataclass(frozen=True)
class RequiredMaterial:
    code: str
    deficiency_tolerable: bool = False
    replaced_by_check: str = ""


@dataclass(frozen=True)
class Assessment:
    outcome: AcceptanceOutcome
    # Every missing item at once (一次性告知): never ask twice for what was missing first.
    missing: list[str] = field(default_factory=list)
    deficient: list[str] = field(default_factory=list)


def assess(
    required: Iterable[RequiredMaterial],
    provided: Iterable[str],
    *,
    passed_checks: Iterable[str] = (),
) -> Assessment:
    """Compare the matter's materials with what was provided.

    A material replaced by a shared-data check that passed is not needed on paper.
    Missing tolerable materials allow acceptance with deficiency; any other missing
    material asks for a supplement listing everything that is missing.
    """
    have = set(provided)
    checks = set(passed_checks)
    missing: list[str] = []
    deficient: list[str] = []
    for material in required:
        if material.code in have:
            continue
        if material.replaced_by_check and material.replaced_by_check in checks:
            continue
        (deficient if material.deficiency_tolerable else missing).append(material.code)
    if missing:
        return Assessment(
            AcceptanceOutcome.SUPPLEMENT_REQUESTED, missing=missing + deficient, deficient=deficient
        )
    if deficient:
        return Assessment(AcceptanceOutcome.ACCEPTED_WITH_DEFICIENCY, deficient=deficient)
    return Assessment(AcceptanceOutcome.ACCEPTED)
