"""Pages of the open alerts (`GET /v1/supervision/alerts`): the longest overdue first
(due time, then application code and department; no due time last), after a keyset
cursor that names the last alert of the previous page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from onceonly.platform.request_rules import storable_text, within_supported_range
from onceonly.tracking.search import SearchRefused, cursor_fields, encode_cursor

_LAST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AlertPosition:
    due_at: datetime | None
    application_code: str
    department_code: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> AlertPosition:
        return cls(row["due_at"], row["application_code"], row["department_code"])

    def key(self) -> tuple[bool, datetime, str, str]:
        return (
            self.due_at is None,
            self.due_at or _LAST,
            self.application_code,
            self.department_code,
        )

    def encode(self) -> str:
        due = self.due_at.isoformat() if self.due_at is not None else None
        return encode_cursor([due, self.application_code, self.department_code])

    @classmethod
    def decode(cls, text: str) -> AlertPosition:
        try:
            due, code, department = cursor_fields(text)
            due_at = datetime.fromisoformat(due) if due is not None else None
        except (ValueError, TypeError):
            raise SearchRefused("cursor", "not a cursor this API gave") from None
        if (
            not isinstance(code, str)
            or not isinstance(department, str)
            or not storable_text(code + department)
            or (
                due_at is not None and (due_at.tzinfo is None or not within_supported_range(due_at))
            )
        ):
            raise SearchRefused("cursor", "not a cursor this API gave")
        return cls(due_at, code, department)


def alert_page(
    rows: Iterable[Mapping[str, Any]], *, after: AlertPosition | None, limit: int
) -> tuple[list[Mapping[str, Any]], AlertPosition | None]:
    """The `limit` alerts after `after` in their order, and the position to continue
    from (None: nothing more)."""
    ordered = sorted(rows, key=lambda row: AlertPosition.of(row).key())
    if after is not None:
        ordered = [row for row in ordered if AlertPosition.of(row).key() > after.key()]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, AlertPosition.of(page[-1]) if more else None
