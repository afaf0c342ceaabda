"""Operations search over tracking's projection: what a query may ask, and its cursor.

Pure: the filters are checked here (each refusal names its parameter) and turned into
SQL conditions with numbered parameters only (`search_store` runs them). Applications
come newest first by the time of their earliest recorded event (`submitted_at`), then by
code; a cursor is that pair of the last row shown, opaque to callers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from onceonly.approval import ApplicationState, SupervisionLevel
from onceonly.platform.auth import region_prefix as auth_region_prefix

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# GB/T 2260 division codes: province `33xxxx`, city `3301xx`, county `330106`.
_REGION = re.compile(r"^[1-9][0-9]{5}(?:[0-9]{3})?$")
_CODE_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CATALOGUE_CODE = re.compile(r"^[a-z][a-z0-9-]{1,60}$")
STATUSES = frozenset(state.value for state in ApplicationState)
LEVELS = frozenset(level.value for level in SupervisionLevel)


class SearchRefused(ValueError):
    """A query parameter that cannot be searched by; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def region_prefix(region: str) -> str:
    """The prefix of a division and everything under it: a province `330000` is `33`, a
    city `330100` is `3301`, a county `330106` or a township `330106001` is itself."""
    if not _REGION.match(region):
        raise SearchRefused(
            "region", "a six-digit division code (GB/T 2260) or a nine-digit township code"
        )
    return auth_region_prefix(region)


# An application's division: the one that decides it, or (recorded before
# jurisdictions) the code's first six digits, the centre's. `{}` is the prefix.
IN_REGION = (
    "(s.competent_region LIKE {0} || '%'"
    " OR (s.competent_region IS NULL AND s.application_code LIKE {0} || '%'))"
)


def encode_cursor(fields: list[Any]) -> str:
    """An opaque cursor of the API's lists: the last row's sort key, base64url JSON."""
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def cursor_fields(text: str) -> Any:
    """The JSON an `encode_cursor` cursor holds; SearchRefused naming `cursor` if it is
    not one (the caller checks what it holds)."""
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise SearchRefused("cursor", "not a cursor this API gave") from None


@dataclass(frozen=True)
class Cursor:
    submitted_at: datetime
    application_code: str

    def encode(self) -> str:
        return encode_cursor([self.submitted_at.isoformat(), self.application_code])

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            when, code = cursor_fields(text)
            at = datetime.fromisoformat(when)
        except (ValueError, TypeError):
            raise SearchRefused("cursor", "not a cursor this API gave") from None
        if at.tzinfo is None or not isinstance(code, str) or not _CODE_PREFIX.match(code):
            raise SearchRefused("cursor", "not a cursor this API gave")
        return cls(at, code)


@dataclass(frozen=True)
class SearchQuery:
    """What is asked; None or empty means "any"."""

    code_prefix: str | None = None
    matter: str | None = None
    department: str | None = None
    region: str | None = None
    statuses: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    open_case: bool | None = None
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None
    # Set by the API from the caller: a department's staff see their department's only,
    # staff of a division what is decided there and under it.
    visible_to_department: str | None = None
    visible_in_region: str | None = None

    def __post_init__(self) -> None:
        if self.code_prefix is not None and not _CODE_PREFIX.match(self.code_prefix):
            raise SearchRefused("code", "letters, digits, '.', '_' or '-', at most 64")
        for name in ("matter", "department"):
            value = getattr(self, name)
            if value is not None and not _CATALOGUE_CODE.match(value):
                raise SearchRefused(name, "a catalogue code, e.g. household-transfer")
        if self.region is not None:
            region_prefix(self.region)
        if unknown := sorted(set(self.statuses) - STATUSES):
            raise SearchRefused("status", f"unknown {unknown}; one of {sorted(STATUSES)}")
        if unknown := sorted(set(self.levels) - LEVELS):
            raise SearchRefused("level", f"unknown {unknown}; one of {sorted(LEVELS)}")
        for start, end, name in (
            (self.submitted_from, self.submitted_to, "submitted_to"),
            (self.updated_from, self.updated_to, "updated_to"),
        ):
            if start is not None and end is not None and end <= start:
                raise SearchRefused(name, "must be after its `from`")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise SearchRefused("limit", f"from 1 to {MAX_LIMIT}")


@dataclass
class Conditions:
    """SQL conditions over `tracking.application_status s` and their parameters."""

    clauses: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def add(self, clause: str, *values: Any) -> None:
        # `{}` in the clause stands for the next parameters, in order.
        numbers = [f"${len(self.values) + n}" for n in range(1, len(values) + 1)]
        self.clauses.append(clause.format(*numbers))
        self.values.extend(values)

    @property
    def where(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "true"


def conditions(query: SearchQuery) -> Conditions:
    """The query as conditions; the cursor's too (rows after it, newest first)."""
    found = Conditions()
    if query.visible_to_department is not None:
        found.add("s.tasks ? {}", query.visible_to_department)
    if query.code_prefix is not None:
        found.add("s.application_code LIKE {} || '%'", _like_literal(query.code_prefix))
    if query.visible_in_region:
        found.add(IN_REGION, auth_region_prefix(query.visible_in_region))
    if query.region is not None:
        found.add(IN_REGION, region_prefix(query.region))
    if query.matter is not None:
        found.add("s.matter_code = {}", query.matter)
    if query.department is not None:
        found.add("s.tasks ? {}", query.department)
    if query.statuses:
        found.add("s.status = ANY({}::text[])", list(query.statuses))
    if query.levels:
        found.add("s.supervision_level = ANY({}::text[])", list(query.levels))
    if query.submitted_from is not None:
        found.add("s.submitted_at >= {}", query.submitted_from)
    if query.submitted_to is not None:
        found.add("s.submitted_at < {}", query.submitted_to)
    if query.updated_from is not None:
        found.add("s.last_event_at >= {}", query.updated_from)
    if query.updated_to is not None:
        found.add("s.last_event_at < {}", query.updated_to)
    if query.open_case is not None:
        found.add(("" if query.open_case else "NOT ") + OPEN_CASE)
    if query.cursor is not None:
        found.add(
            "(s.submitted_at, s.application_code) < ({}, {})",
            query.cursor.submitted_at,
            query.cursor.application_code,
        )
    return found


# An open supervision case (督办) of the application: opened, not closed.
OPEN_CASE = """EXISTS (
    SELECT 1 FROM tracking.timeline o
     WHERE o.application_code = s.application_code
       AND o.ce_type = 'onceonly.events.v1.SupervisionCaseOpened'
       AND NOT EXISTS (
           SELECT 1 FROM tracking.timeline c
            WHERE c.application_code = o.application_code
              AND c.ce_type = 'onceonly.events.v1.SupervisionCaseClosed'
              AND c.summary ->> 'case_code' = o.summary ->> 'case_code'))"""


def _like_literal(text: str) -> str:
    """`text` matched literally by LIKE ('_' is a wildcard there)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
