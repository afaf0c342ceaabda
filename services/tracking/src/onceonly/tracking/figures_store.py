"""Supervision figures computed in Postgres from the timeline and the status projection.

The definitions are in `onceonly.tracking.figures` (whose pure `reference_figures`
the tests compare with these queries). Both queries read constant SQL only; the
period is a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from onceonly.approval import FINISHED, TASK_FINISHED
from onceonly.catalogue.calendar import WorkingCalendar, default_calendar
from onceonly.platform.auth import region_prefix
from onceonly.tracking.clock_days import pauses_of
from onceonly.tracking.figures import (
    WORK_ORDER_FIGURES,
    GroupBy,
    GroupFigures,
    Unit,
    aggregate,
    digits_below,
    has_figures,
)
from onceonly.tracking.search import IN_REGION

_SUPPLEMENT = ["ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED", "DECISION_OUTCOME_SUPPLEMENT_REQUESTED"]
_DECIDING = ["DECISION_OUTCOME_APPROVED", "DECISION_OUTCOME_REJECTED"]

# Per application and clock ('' the application's own): the days of its approved
# extensions and when it first passed its legal limit (a legal alert's first, escalation
# 0: omitted from the summary, as protobuf's JSON leaves out zero values).
_CLOCK_LIMITS = """
    SELECT application_code, coalesce(summary ->> 'department_code', '') AS department_code,
           sum((summary ->> 'days')::int) FILTER (
               WHERE ce_type = 'onceonly.events.v1.ExtensionDecided'
                 AND coalesce((summary ->> 'approved')::boolean, false)
           ) AS extended_days,
           min(ce_time) FILTER (
               WHERE ce_type = 'onceonly.events.v1.SupervisionAlert'
                 AND summary ->> 'level' = 'SUPERVISION_LEVEL_LEGAL'
                 AND coalesce((summary ->> 'escalation')::int, 0) = 0
           ) AS legal_overrun_at
      FROM tracking.timeline
     WHERE ce_type IN ('onceonly.events.v1.ExtensionDecided',
                       'onceonly.events.v1.SupervisionAlert')
     GROUP BY 1, 2
"""

# One row per application ($3: the supplement-requesting outcomes). The projection's
# level is already 'none' for a finished application.
_APPLICATION_UNITS = """
    SELECT {app_group} AS group_key, a.application_code, a.started_at,
           a.finished_at, a.committed_days, a.supplemented,
           coalesce(s.supervision_level, 'none') AS level,
           a.clock_started_at, a.day_kind,
           coalesce(x.extended_days, 0) AS extended_days, x.legal_overrun_at,
           -- The application's clock stands still while any task's does.
           coalesce((SELECT jsonb_agg(p)
                       FROM jsonb_each(coalesce(s.tasks, '{}'::jsonb)) t,
                            jsonb_array_elements(
                                coalesce(t.value -> 'paused_intervals', '[]'::jsonb)) p),
                    '[]'::jsonb)::text AS pauses
      FROM (
        SELECT application_code,
               min(ce_time) FILTER (
                   WHERE ce_type = 'onceonly.events.v1.ApplicationSubmitted'
               ) AS started_at,
               min(ce_time) FILTER (
                   WHERE ce_type IN ('onceonly.events.v1.ApplicationCompleted',
                                     'onceonly.events.v1.ApplicationRejected')
               ) AS finished_at,
               (array_agg((summary -> 'clock' ->> 'committed_days')::int ORDER BY seq DESC)
                   FILTER (WHERE ce_type = 'onceonly.events.v1.ApplicationAccepted'
                             AND (summary -> 'clock' ->> 'committed_days') IS NOT NULL)
               )[1] AS committed_days,
               (array_agg(ce_time ORDER BY seq DESC)
                   FILTER (WHERE ce_type = 'onceonly.events.v1.ApplicationAccepted'
                             AND (summary -> 'clock' ->> 'committed_days') IS NOT NULL)
               )[1] AS clock_started_at,
               (array_agg(summary -> 'clock' ->> 'day_kind' ORDER BY seq DESC)
                   FILTER (WHERE ce_type = 'onceonly.events.v1.ApplicationAccepted'
                             AND (summary -> 'clock' ->> 'committed_days') IS NOT NULL)
               )[1] AS day_kind,
               coalesce(bool_or(summary ->> 'outcome' = ANY($3::text[])), false)
                   AS supplemented
          FROM tracking.timeline
         GROUP BY application_code
      ) a
      LEFT JOIN tracking.application_status s USING (application_code)
      -- The application's limit extends with its most extended task.
      LEFT JOIN (
        SELECT application_code,
               max(extended_days) FILTER (WHERE department_code <> '') AS extended_days,
               min(legal_overrun_at) FILTER (WHERE department_code = '') AS legal_overrun_at
          FROM ({limits}) l
         GROUP BY 1
      ) x USING (application_code)
""".replace("{limits}", _CLOCK_LIMITS)

# One row per department task ($3: finished application statuses, $4: finished task
# states, $5: deciding outcomes); an alert is open only on an open task.
_TASK_UNITS = """
    SELECT t.department_code AS group_key, t.application_code, t.started_at,
           t.finished_at, t.committed_days, t.supplemented,
           CASE WHEN s.status = ANY($3::text[])
                  OR (s.tasks -> t.department_code ->> 'state') = ANY($4::text[])
                THEN 'none'
                ELSE coalesce(s.tasks -> t.department_code ->> 'supervision_level', 'none')
           END AS level,
           NULL::timestamptz AS clock_started_at, t.day_kind,
           coalesce(x.extended_days, 0) AS extended_days, x.legal_overrun_at,
           coalesce(s.tasks -> t.department_code -> 'paused_intervals', '[]'::jsonb)::text
               AS pauses
      FROM (
        SELECT application_code, summary ->> 'department_code' AS department_code,
               min(ce_time) FILTER (WHERE ce_type = 'onceonly.events.v1.TaskStarted') AS started_at,
               min(ce_time) FILTER (
                   WHERE ce_type = 'onceonly.events.v1.TaskDecided'
                     AND summary ->> 'outcome' = ANY($5::text[])
               ) AS finished_at,
               (array_agg((summary -> 'clock' ->> 'committed_days')::int ORDER BY seq)
                   FILTER (WHERE ce_type = 'onceonly.events.v1.TaskStarted'
                             AND (summary -> 'clock' ->> 'committed_days') IS NOT NULL)
               )[1] AS committed_days,
               (array_agg(summary -> 'clock' ->> 'day_kind' ORDER BY seq)
                   FILTER (WHERE ce_type = 'onceonly.events.v1.TaskStarted'
                             AND (summary -> 'clock' ->> 'committed_days') IS NOT NULL)
               )[1] AS day_kind,
               coalesce(bool_or(
                   ce_type = 'onceonly.events.v1.TaskDecided'
                   AND summary ->> 'outcome' = 'DECISION_OUTCOME_SUPPLEMENT_REQUESTED'
               ), false) AS supplemented
          FROM tracking.timeline
         WHERE ce_type IN ('onceonly.events.v1.TaskStarted', 'onceonly.events.v1.TaskDecided')
           AND coalesce(summary ->> 'department_code', '') <> ''
         GROUP BY 1, 2
      ) t
      LEFT JOIN tracking.application_status s USING (application_code)
      LEFT JOIN ({limits}) x
        ON x.application_code = t.application_code AND x.department_code = t.department_code
""".replace("{limits}", _CLOCK_LIMITS)

# The units that count in [$1, $2): started or finished in it, or with an alert open now.
_UNITS_IN_PERIOD = """
    SELECT * FROM ({units}) u
     WHERE (u.started_at >= $1 AND u.started_at < $2)
        OR (u.finished_at >= $1 AND u.finished_at < $2)
        OR (u.legal_overrun_at >= $1 AND u.legal_overrun_at < $2)
        OR u.level IN ('yellow', 'red', 'legal')
"""

_RATINGS = """
    SELECT g.group_key, coalesce((r.summary ->> 'level')::int, 0) AS level, count(*) AS n
      FROM tracking.timeline r
      JOIN ({groups}) g USING (application_code)
     WHERE r.ce_type = 'onceonly.events.v1.RatingGiven' AND r.ce_time >= $1 AND r.ce_time < $2
       AND {in_region}
     GROUP BY 1, 2
"""
# 行政区划: `{column}` among the applications decided in a division and under it (the
# search's condition, `{p}` its prefix's parameter); every unit, rating and case below
# counts only for those.
_IN_REGION = (
    "{column} IN (SELECT s.application_code FROM tracking.application_status s WHERE "  # noqa: S608 - constants
    + IN_REGION.replace("{0}", "{p}")
    + ")"
)
_MATTER_OF = (
    "SELECT application_code, coalesce(matter_code, '') AS group_key"
    " FROM tracking.application_status"
)
_DEPARTMENTS_OF = """
    SELECT DISTINCT application_code, summary ->> 'department_code' AS group_key
      FROM tracking.timeline
     WHERE ce_type IN ('onceonly.events.v1.TaskStarted', 'onceonly.events.v1.TaskDecided')
       AND coalesce(summary ->> 'department_code', '') <> ''
"""


# The rectifications (差评整改) of each group ($1, $2: the period): one row per case, its
# group from its opening event ('{group}': department_code or matter_code, a constant).
_RECTIFICATIONS = """
    WITH r AS (
      SELECT summary ->> 'case_code' AS case_code,
             min(ce_time) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.RectificationOpened') AS opened_at,
             min(ce_time) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.RectificationAnswered') AS done_at,
             coalesce(bool_or(coalesce((summary ->> 'late')::boolean, false)) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.RectificationAnswered'), false) AS late,
             (array_agg(coalesce(summary ->> '{group}', '') ORDER BY seq) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.RectificationOpened'))[1] AS group_key,
             min(application_code) AS application_code
        FROM tracking.timeline
       WHERE ce_type IN ('onceonly.events.v1.RectificationOpened',
                         'onceonly.events.v1.RectificationAnswered')
         AND {in_region}
       GROUP BY 1
    )
    SELECT {case_group} AS group_key,
           count(*) FILTER (WHERE opened_at >= $1 AND opened_at < $2) AS rectifications,
           count(*) FILTER (WHERE opened_at >= $1 AND opened_at < $2 AND done_at IS NOT NULL)
               AS rectified,
           count(*) FILTER (WHERE opened_at >= $1 AND opened_at < $2 AND done_at IS NOT NULL
                              AND NOT late) AS rectified_on_time,
           count(*) FILTER (WHERE done_at IS NULL) AS open_rectifications
      FROM r LEFT JOIN tracking.application_status s USING (application_code)
     WHERE opened_at IS NOT NULL
     GROUP BY 1
"""
# The supervision cases (督办件) of each group, the same way; a case's level is the
# highest its escalations and closing reached (1 without either).
_CASES = """
    WITH c AS (
      SELECT summary ->> 'case_code' AS case_code,
             min(ce_time) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.SupervisionCaseOpened') AS opened_at,
             min(ce_time) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.SupervisionCaseClosed') AS done_at,
             coalesce(bool_or(coalesce((summary ->> 'late')::boolean, false)) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.SupervisionCaseClosed'), false) AS late,
             coalesce(max((summary ->> 'level')::int) FILTER (
                 WHERE ce_type <> 'onceonly.events.v1.SupervisionCaseOpened'), 1) AS level,
             (array_agg(coalesce(summary ->> '{group}', '') ORDER BY seq) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.SupervisionCaseOpened'))[1] AS group_key,
             min(application_code) AS application_code
        FROM tracking.timeline
       WHERE ce_type IN ('onceonly.events.v1.SupervisionCaseOpened',
                         'onceonly.events.v1.SupervisionCaseEscalated',
                         'onceonly.events.v1.SupervisionCaseClosed')
         AND {in_region}
       GROUP BY 1
    )
    SELECT {case_group} AS group_key,
           count(*) FILTER (WHERE opened_at >= $1 AND opened_at < $2) AS cases_opened,
           count(*) FILTER (WHERE done_at >= $1 AND done_at < $2) AS cases_closed,
           count(*) FILTER (WHERE done_at >= $1 AND done_at < $2 AND late) AS cases_closed_late,
           count(*) FILTER (WHERE done_at IS NULL) AS open_cases,
           count(*) FILTER (WHERE done_at IS NULL AND level > 1) AS open_cases_escalated
      FROM c LEFT JOIN tracking.application_status s USING (application_code)
     WHERE opened_at IS NOT NULL
     GROUP BY 1
"""
# The 12345 work orders (工单) of each group ($1, $2: the period): one row per order, the
# department and place it was filed to from its filing, events of every round counted in
# the period; '{group}' and '{in_scope}' are constant SQL (FiguresStore.figures).
_WORK_ORDERS = """
    WITH w AS (
      SELECT summary ->> 'order_code' AS order_code, min(application_code) AS application_code,
             min(ce_time) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderFiled')
                 AS filed_at,
             min(ce_time) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderClosed')
                 AS closed_at,
             (array_agg(coalesce(summary ->> 'department_code', '') ORDER BY seq) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.WorkOrderFiled'))[1] AS department_code,
             (array_agg(coalesce(summary ->> 'region_code', '') ORDER BY seq) FILTER (
                 WHERE ce_type = 'onceonly.events.v1.WorkOrderFiled'))[1] AS region_code,
             count(*) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderAnswered'
                                AND ce_time >= $1 AND ce_time < $2) AS answered,
             count(*) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderAnswered'
                                AND coalesce((summary ->> 'late')::boolean, false)
                                AND ce_time >= $1 AND ce_time < $2) AS answered_late,
             count(*) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderSigned'
                                AND coalesce((summary ->> 'late')::boolean, false)
                                AND ce_time >= $1 AND ce_time < $2) AS signed_late,
             count(*) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderReopened'
                                AND ce_time >= $1 AND ce_time < $2) AS reopened,
             count(*) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderCalledBack'
                                AND ce_time >= $1 AND ce_time < $2) AS callbacks,
             count(*) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderCalledBack'
                                AND coalesce((summary ->> 'satisfied')::boolean, false)
                                AND ce_time >= $1 AND ce_time < $2) AS satisfied
        FROM tracking.timeline
       WHERE ce_type IN ('onceonly.events.v1.WorkOrderFiled',
                         'onceonly.events.v1.WorkOrderSigned',
                         'onceonly.events.v1.WorkOrderAnswered',
                         'onceonly.events.v1.WorkOrderCalledBack',
                         'onceonly.events.v1.WorkOrderReopened',
                         'onceonly.events.v1.WorkOrderClosed')
       GROUP BY 1
    )
    SELECT {group} AS group_key,
           count(*) FILTER (WHERE filed_at >= $1 AND filed_at < $2) AS work_orders,
           count(*) FILTER (WHERE closed_at >= $1 AND closed_at < $2) AS work_orders_closed,
           sum(answered)::int AS work_orders_answered,
           sum(answered_late)::int AS work_orders_answered_late,
           sum(signed_late)::int AS work_orders_signed_late,
           sum(reopened)::int AS work_orders_reopened,
           sum(callbacks)::int AS callbacks,
           sum(satisfied)::int AS callbacks_satisfied,
           count(*) FILTER (WHERE closed_at IS NULL) AS open_work_orders
      FROM w LEFT JOIN tracking.application_status s USING (application_code)
     WHERE filed_at IS NOT NULL AND {in_scope}
     GROUP BY 1
"""
# Where a work order counts: the division deciding the application it concerns, else
# where it was filed, else its timeline code's first six digits (figures.WorkOrder).
_ORDER_DECIDED_IN = (
    "coalesce(s.competent_region, nullif(w.region_code, ''), left(w.application_code, 6))"
)
_ORDER_GROUP = {"department": "w.department_code", "matter": "coalesce(s.matter_code, '')"}
_CASE_GROUP = {"department": "department_code", "matter": "matter_code", "division": ""}


def _division_below(code: str, scope: str | None) -> str:
    """SQL of the division below `scope` that decides the application `code` (a column;
    `s` its status row): figures.division_below, as constant SQL per level."""
    return _division_cut(f"coalesce(s.competent_region, left({code}, 6))", scope)


def _division_cut(decided_in: str, scope: str | None) -> str:
    """SQL of the division below `scope` of the division `decided_in` (SQL)."""
    kept = digits_below(scope)
    return decided_in if kept is None else f"rpad(left({decided_in}, {kept}), 6, '0')"


_RECTIFICATION_FIGURES = ("rectifications", "rectified", "rectified_on_time", "open_rectifications")
_CASE_FIGURES = (
    "cases_opened",
    "cases_closed",
    "cases_closed_late",
    "open_cases",
    "open_cases_escalated",
)


class FiguresStore:
    """Reads supervision figures (parameterised SQL only)."""

    def __init__(self, pool: asyncpg.Pool, calendar: WorkingCalendar | None = None) -> None:
        self._pool = pool
        self._calendar = calendar or default_calendar()

    async def figures(
        self, *, start: datetime, end: datetime, group_by: GroupBy, region: str | None = None
    ) -> dict[str, GroupFigures]:
        """The figures of every group with anything to show in [start, end), by group;
        with `region`, of the applications decided in that division and under it (a
        city's figures are its counties' added up). By division: by the division below
        `region` (the province's cities without one) that decides each application."""
        case_group = "group_key"
        if group_by == "department":
            units, groups = _TASK_UNITS, _DEPARTMENTS_OF
            extra: list[Any] = [_values(FINISHED), _values(TASK_FINISHED), _DECIDING]
        else:
            app_group = "coalesce(s.matter_code, '')"
            groups = _MATTER_OF
            if group_by == "division":
                app_group = _division_below("a.application_code", region)
                case_group = _division_below("application_code", region)
                groups = (
                    f"SELECT application_code, {_division_below('application_code', region)}"  # noqa: S608 - constants
                    " AS group_key FROM tracking.application_status s"
                )
            units = _APPLICATION_UNITS.replace("{app_group}", app_group)
            extra = [_SUPPLEMENT]

        def scoped(column: str, first: int) -> tuple[str, list[str]]:
            # `column` among the region's applications (its prefix parameter `first`).
            if region is None:
                return "true", []
            return _IN_REGION.format(column=column, p=f"${first}"), [region_prefix(region)]

        in_units, unit_args = scoped("p.application_code", 3 + len(extra))
        in_rated, region_args = scoped("r.application_code", 3)
        in_cases, _ = scoped("application_code", 3)
        units = _UNITS_IN_PERIOD.format(units=units)
        units_sql = f"SELECT * FROM ({units}) p WHERE {in_units}"  # noqa: S608 - constants
        field = _CASE_GROUP[group_by]
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            # One snapshot for every query.
            rows = await conn.fetch(units_sql, start, end, *extra, *unit_args)
            rated = await conn.fetch(
                _RATINGS.format(groups=groups, in_region=in_rated), start, end, *region_args
            )
            rectified = await conn.fetch(
                _RECTIFICATIONS.format(group=field, in_region=in_cases, case_group=case_group),
                start,
                end,
                *region_args,
            )
            supervised = await conn.fetch(
                _CASES.format(group=field, in_region=in_cases, case_group=case_group),
                start,
                end,
                *region_args,
            )
            ordered = await conn.fetch(
                _WORK_ORDERS.format(
                    group=_ORDER_GROUP.get(group_by) or _division_cut(_ORDER_DECIDED_IN, region),
                    in_scope="true" if region is None else f"starts_with({_ORDER_DECIDED_IN}, $3)",
                ),
                start,
                end,
                *region_args,
            )
        result = {
            group: figures
            for group, figures in aggregate(
                (_unit(row) for row in rows), start=start, end=end, calendar=self._calendar
            ).items()
            if has_figures(figures)
        }
        for row in rated:
            figures = result.setdefault(row["group_key"], GroupFigures(group=row["group_key"]))
            figures.ratings[row["level"]] = row["n"]
        for rows, names in (
            (rectified, _RECTIFICATION_FIGURES),
            (supervised, _CASE_FIGURES),
            (ordered, WORK_ORDER_FIGURES),
        ):
            for row in rows:
                figures = result.setdefault(row["group_key"], GroupFigures(group=row["group_key"]))
                for name in names:
                    setattr(figures, name, row[name])
        return {group: figures for group, figures in result.items() if has_figures(figures)}


def _unit(row: asyncpg.Record) -> Unit:
    return Unit(
        group=row["group_key"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        committed_days=row["committed_days"],
        supplemented=row["supplemented"],
        level=row["level"],
        clock_started_at=row["clock_started_at"],
        day_kind=row["day_kind"] or "working",
        pauses=pauses_of(json.loads(row["pauses"])),
        extended_days=row["extended_days"],
        legal_overrun_at=row["legal_overrun_at"],
    )


# Every open alert: the application's own clock ('' department) and each open task's.
_OPEN_ALERTS = """
    SELECT s.application_code, coalesce(s.matter_code, '') AS matter_code,
           '' AS department_code, s.supervision ->> 'level' AS level,
           (s.supervision ->> 'escalation')::int AS escalation,
           (s.supervision ->> 'seconds_left')::bigint AS seconds_left_at_alert,
           (s.supervision ->> 'due_at')::timestamptz AS due_at,
           (s.supervision ->> 'alert_raised_at')::timestamptz AS raised_at
      FROM tracking.application_status s
     WHERE s.supervision_level <> 'none'
       AND s.supervision ->> 'level' IN ('yellow', 'red', 'legal')
    UNION ALL
    SELECT s.application_code, coalesce(s.matter_code, ''), t.key,
           t.value ->> 'supervision_level',
           (t.value ->> 'escalation')::int,
           (t.value ->> 'seconds_left')::bigint,
           (t.value ->> 'due_at')::timestamptz,
           (t.value ->> 'alert_raised_at')::timestamptz
      FROM tracking.application_status s, jsonb_each(s.tasks) t
     WHERE s.supervision_level <> 'none'
       AND t.value ->> 'supervision_level' IN ('yellow', 'red', 'legal')
       AND NOT coalesce(t.value ->> 'state', '') = ANY($1::text[])
     ORDER BY 7 NULLS LAST, 1, 3
"""


async def open_alerts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Open legal, red and yellow alerts, the longest overdue first (the projection's view;
    `supervision_level <> 'none'` already leaves out finished applications)."""
    rows = await pool.fetch(_OPEN_ALERTS, _values(TASK_FINISHED))
    return [dict(row) for row in rows]


def _values(states: Iterable[StrEnum]) -> list[str]:
    return sorted(state.value for state in states)


# Open supervision cases: each case's opening, its latest level and whether it closed.
_OPEN_CASES = """
    WITH c AS (
      SELECT application_code, summary ->> 'case_code' AS case_code,
             (array_agg(summary ORDER BY seq)
                 FILTER (WHERE ce_type = 'onceonly.events.v1.SupervisionCaseOpened'))[1] AS opened,
             (array_agg(summary ORDER BY seq DESC)
                 FILTER (WHERE ce_type <> 'onceonly.events.v1.SupervisionCaseClosed'))[1] AS latest,
             bool_or(ce_type = 'onceonly.events.v1.SupervisionCaseClosed') AS closed
        FROM tracking.timeline
       WHERE ce_type IN ('onceonly.events.v1.SupervisionCaseOpened',
                         'onceonly.events.v1.SupervisionCaseEscalated',
                         'onceonly.events.v1.SupervisionCaseClosed')
       GROUP BY 1, 2
    )
    SELECT case_code, application_code, coalesce(opened ->> 'matter_code', '') AS matter_code,
           coalesce(opened ->> 'department_code', '') AS department_code,
           coalesce(opened ->> 'clock_department_code', '') AS clock_department_code,
           coalesce((latest ->> 'level')::int, 1) AS level,
           coalesce(latest ->> 'addressee', '') AS addressee,
           (opened ->> 'opened_at')::timestamptz AS opened_at,
           (latest ->> 'response_due_at')::timestamptz AS response_due_at
      FROM c
     WHERE opened IS NOT NULL AND NOT closed
     ORDER BY response_due_at NULLS LAST, case_code
"""

# Rectifications whose answer is still due: the opening and the latest alert's level.
_OPEN_RECTIFICATIONS = """
    WITH r AS (
      SELECT application_code, summary ->> 'case_code' AS case_code,
             (array_agg(summary ORDER BY seq)
                 FILTER (WHERE ce_type = 'onceonly.events.v1.RectificationOpened'))[1] AS opened,
             (array_agg(summary ->> 'level' ORDER BY seq DESC)
                 FILTER (WHERE ce_type = 'onceonly.events.v1.RectificationAlert'))[1] AS level,
             bool_or(ce_type = 'onceonly.events.v1.RectificationAnswered') AS answered
        FROM tracking.timeline
       WHERE ce_type IN ('onceonly.events.v1.RectificationOpened',
                         'onceonly.events.v1.RectificationAlert',
                         'onceonly.events.v1.RectificationAnswered')
       GROUP BY 1, 2
    )
    SELECT case_code, application_code, coalesce(opened ->> 'matter_code', '') AS matter_code,
           coalesce(opened ->> 'department_code', '') AS department_code,
           coalesce((opened ->> 'rating_level')::int, 0) AS rating_level,
           CASE level WHEN 'SUPERVISION_LEVEL_RED' THEN 'red'
                      WHEN 'SUPERVISION_LEVEL_YELLOW' THEN 'yellow' ELSE 'none' END AS level,
           (opened ->> 'opened_at')::timestamptz AS opened_at,
           (opened ->> 'due_at')::timestamptz AS due_at
      FROM r
     WHERE opened IS NOT NULL AND NOT answered
     ORDER BY due_at NULLS LAST, case_code
"""


# 12345 work orders not closed: the round in progress (its latest opening or reopening)
# and where it stands: to sign for, to reply to (once signed), or waiting for the
# caller's callback (once answered); the clock that runs and its latest alert.
_OPEN_WORK_ORDERS = """
    WITH w AS (
      SELECT summary ->> 'order_code' AS order_code, min(application_code) AS timeline,
             (array_agg(summary ORDER BY seq)
                 FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderFiled'))[1] AS filed,
             (array_agg(summary ORDER BY seq DESC)
                 FILTER (WHERE ce_type IN ('onceonly.events.v1.WorkOrderOpened',
                                           'onceonly.events.v1.WorkOrderReopened')))[1]
                 AS round,
             max(seq) FILTER (WHERE ce_type IN ('onceonly.events.v1.WorkOrderOpened',
                                                'onceonly.events.v1.WorkOrderReopened'))
                 AS round_seq,
             max(seq) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderSigned') AS signed_seq,
             max(seq) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderAnswered')
                 AS answered_seq,
             (array_agg(summary ORDER BY seq DESC)
                 FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderAlert'))[1] AS alert,
             max(seq) FILTER (WHERE ce_type = 'onceonly.events.v1.WorkOrderAlert') AS alert_seq,
             bool_or(ce_type = 'onceonly.events.v1.WorkOrderClosed') AS closed
        FROM tracking.timeline
       WHERE ce_type LIKE 'onceonly.events.v1.WorkOrder%'
       GROUP BY 1
    ), staged AS (
      SELECT *, CASE WHEN answered_seq > round_seq THEN 'callback'
                     WHEN signed_seq > round_seq THEN 'reply' ELSE 'sign' END AS stage
        FROM w
       WHERE round IS NOT NULL AND NOT closed
    )
    SELECT order_code,
           coalesce(filed ->> 'attached_application_code', '') AS application_code,
           coalesce(round ->> 'department_code', '') AS department_code,
           lower(replace(coalesce(filed ->> 'kind', ''), 'WORK_ORDER_KIND_', '')) AS kind,
           coalesce((round -> 'clocks' ->> 'round')::int, 1) AS round,
           stage,
           CASE stage WHEN 'sign' THEN (round -> 'clocks' ->> 'sign_due_at')::timestamptz
                      WHEN 'reply' THEN (round -> 'clocks' ->> 'reply_due_at')::timestamptz
           END AS due_at,
           -- The latest alert if it is about the clock that runs now.
           CASE WHEN alert_seq > round_seq AND alert ->> 'clock' = stage
                THEN lower(replace(alert ->> 'level', 'SUPERVISION_LEVEL_', ''))
                ELSE 'none' END AS level
      FROM staged
     ORDER BY due_at NULLS LAST, order_code
"""


async def open_cases(
    pool: asyncpg.Pool,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Open supervision cases (the response deadline nearest first), rectifications
    still to be answered and 12345 work orders not closed (likewise), from the
    timeline."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        cases = await conn.fetch(_OPEN_CASES)
        rectifications = await conn.fetch(_OPEN_RECTIFICATIONS)
        orders = await conn.fetch(_OPEN_WORK_ORDERS)
    return (
        [dict(row) for row in cases],
        [dict(row) for row in rectifications],
        [dict(row) for row in orders],
    )
