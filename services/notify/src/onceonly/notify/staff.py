"""Who hears of e-supervision alerts (电子监察): department staff and the supervision
office, configured as data (staff.yaml, or the file ONCEONLY_NOTIFY_STAFF_DIRECTORY
names). Loading is pure and strict: a directory with a mistake is refused at start-up,
not discovered when a red alert finds nobody to tell."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from onceonly.notify.errors import NotifyError

ALERT_KINDS = frozenset({"yellow", "red", "escalation", "legal", "special_procedure"})
CHANNELS = frozenset({"sms", "app"})
# Department staff hear of every level on their own clocks; the supervision office of
# what is overdue (the legal limit passed, a special procedure past its maximum
# included), on every clock.
DEPARTMENT_DEFAULT = ("yellow", "red", "escalation", "legal", "special_procedure")
OFFICE_DEFAULT = ("red", "escalation", "legal", "special_procedure")
_MOBILE = re.compile(r"^\+?\d{6,15}$")


class DirectoryError(NotifyError):
    """The staff directory is malformed."""


@dataclass(frozen=True, slots=True)
class StaffContact:
    name: str  # a role or a person; shown nowhere but the directory itself
    mobile: str
    channels: tuple[str, ...]
    language: str
    alerts: frozenset[str]


@dataclass(frozen=True, slots=True)
class StaffDirectory:
    departments: dict[str, tuple[StaffContact, ...]]
    supervision_office: tuple[StaffContact, ...]

    def recipients(self, *, department_code: str, kind: str) -> list[StaffContact]:
        """Everyone to tell of an alert of `kind` on `department_code`'s clock (empty
        for the application's overall clock), each once even if listed twice."""
        candidates = [*self.departments.get(department_code, ()), *self.supervision_office]
        chosen: dict[str, StaffContact] = {}
        for contact in candidates:
            if kind in contact.alerts and contact.mobile not in chosen:
                chosen[contact.mobile] = contact
        return list(chosen.values())


def _contact(raw: Any, where: str, default_alerts: tuple[str, ...]) -> StaffContact:
    if not isinstance(raw, dict):
        raise DirectoryError(f"{where}: expected a mapping")
    mobile = str(raw.get("mobile", "")).strip()
    if not _MOBILE.match(mobile):
        raise DirectoryError(f"{where}: mobile must be digits")
    channels = tuple(str(c).strip().lower() for c in raw.get("channels") or ("sms",))
    alerts = frozenset(str(a).strip().lower() for a in raw.get("alerts") or default_alerts)
    if unknown := set(channels) - CHANNELS:
        raise DirectoryError(f"{where}: unknown channels {sorted(unknown)}")
    if unknown := alerts - ALERT_KINDS:
        raise DirectoryError(f"{where}: unknown alerts {sorted(unknown)}")
    return StaffContact(
        name=str(raw.get("name", "")),
        mobile=mobile,
        channels=channels,
        language=str(raw.get("language", "zh")),
        alerts=alerts,
    )


def parse_directory(raw: Any, *, origin: str = "<staff>") -> StaffDirectory:
    if not isinstance(raw, dict):
        raise DirectoryError(f"{origin}: expected a mapping")
    departments_raw = raw.get("departments") or {}
    office_raw = raw.get("supervision_office") or []
    if not isinstance(departments_raw, dict) or not isinstance(office_raw, list):
        raise DirectoryError(f"{origin}: departments is a mapping, supervision_office a list")
    departments: dict[str, tuple[StaffContact, ...]] = {}
    for code, people in departments_raw.items():
        if not isinstance(people, list):
            raise DirectoryError(f"{origin}: departments.{code} must be a list")
        departments[str(code)] = tuple(
            _contact(person, f"{origin}: departments.{code}[{i}]", DEPARTMENT_DEFAULT)
            for i, person in enumerate(people)
        )
    office = tuple(
        _contact(person, f"{origin}: supervision_office[{i}]", OFFICE_DEFAULT)
        for i, person in enumerate(office_raw)
    )
    return StaffDirectory(departments=departments, supervision_office=office)


def load_directory(path: str = "") -> StaffDirectory:
    """The directory at `path`, or the one shipped with the package (demo contacts)."""
    if path:
        text, origin = Path(path).read_text("utf-8"), path
    else:
        text = resources.files("onceonly.notify").joinpath("staff.yaml").read_text("utf-8")
        origin = "onceonly.notify/staff.yaml"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DirectoryError(f"{origin}: not YAML: {exc}") from exc
    return parse_directory(raw, origin=origin)
