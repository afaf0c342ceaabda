"""A benchmark's findings: figures, the system-to-raw ratio and the targets checked."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

_OPS = {">=": operator.ge, "<=": operator.le}


@dataclass
class Target:
    name: str
    measured: float | None
    op: str
    threshold: float
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return bool(_OPS[self.op](self.measured, self.threshold))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "target": f"{self.op} {self.threshold:g}{(' ' + self.unit) if self.unit else ''}",
            "met": self.met,
        }


@dataclass
class Section:
    """One benchmark: what the system did, what the raw component did, their ratio."""

    name: str
    system: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    ratio: dict[str, float | None] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bound_by: dict[str, Any] = field(default_factory=dict)
    # A py-spy profile taken when a target was missed (bench/profile.py).
    profile: dict[str, Any] | None = None
    error: str | None = None

    def missed(self) -> list[Target]:
        return [t for t in self.targets if t.met is False]

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "raw": self.raw,
            "ratio": self.ratio,
            "targets": [t.as_dict() for t in self.targets],
            "notes": self.notes,
            "bound_by": self.bound_by,
            "profile": self.profile,
            "error": self.error,
        }
