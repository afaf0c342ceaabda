"""Activities: the workflow's I/O (catalogue look-ups, deadlines, publishing events)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, time, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from onceonly.catalogue import Catalogue, DayKind
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar
from onceonly.catalogue.jurisdictions import default_jurisdictions
from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish, publish_all
from onceonly.platform.kafka_ports import Producer
from onceonly.platform.pii import PiiError, PiiSealer, mask_identifier
from onceonly.platform.telemetry import current_trace_headers
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.approval_events import EVENT_TYPES
from onceonly.workflow.checks import RULES_VERSION, run_checks
from onceonly.workflow.elicences import ELicence, ELicenceStore, elicence_number
from onceonly.workflow.event_messages import to_message
from onceonly.workflow.payload_converter import typed_value
from onceonly.workflow.registry import BaseRegistry
from onceonly.workflow.shared import (
    AddDaysRequest,
    CheckOutcome,
    ChecksRequest,
    ChecksResult,
    DeadlineRequest,
    DeadlineResult,
    ELicenceRequest,
    ELicenceResult,
    ExtendRequest,
    ExtendResult,
    MaterialSpec,
    MatterRequest,
    MatterSnapshot,
    PublishBatch,
    PublishRequest,
    RecomputeRequest,
    TaskSpec,
)
from onceonly.workflow.task_list import TaskListWriter

SOURCE = "/onceonly/workflow"


def yellow_point(days: int, share: float, days_left: int) -> int:
    """After how many counted days the yellow warning is due: `share` of the limit
    elapsed, or `days_left` days left, whichever comes first (never before day 0)."""
    return max(0, min(int(days * share), days - days_left))


def _china_date(instant: datetime) -> date:
    return instant.astimezone(CHINA_STANDARD_TIME).date()


def _end_of_day(day: date) -> datetime:
    """Limits end with their last day, China Standard Time."""
    return datetime.combine(day, time(23, 59, 59), CHINA_STANDARD_TIME).astimezone(UTC)


class ApprovalActivities:
    """Activity methods; the clients they use are given by the worker."""

    def __init__(
        self,
        *,
        producer: Producer,
        topic_prefix: str,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
        registry: BaseRegistry | None = None,
        sealer: PiiSealer | None = None,
        elicences: ELicenceStore | None = None,
        elicence_keys: SigningKeys | None = None,
        task_list: TaskListWriter | None = None,
    ) -> None:
        self._producer = producer
        self._prefix = topic_prefix
        self._catalogue = catalogue
        self._calendar = calendar
        self._registry = registry
        self._sealer = sealer
        self._elicences = elicences
        self._elicence_keys = elicence_keys
        self._task_list = task_list

    @activity.defn(name="issue_elicence")
    async def issue_elicence(self, request: ELicenceRequest) -> ELicenceResult:
        """Record the e-licence the applicant downloads; idempotent per application."""
        if self._elicences is None:
            raise ApplicationError("no e-licence store configured", type="NoELicenceStore")
        holder_masked = "****"
        if self._sealer is not None and request.holder_sealed:
            try:
                holder = self._sealer.open(
                    request.holder_sealed, context=f"{request.application_code}:identifier"
                )
                holder_masked = mask_identifier(holder)
            except PiiError:
                pass  # keep the record; the masked holder stays unknown
        issued_at = request.issued_at
        valid_until = (
            datetime.combine(
                _china_date(request.issued_at) + timedelta(days=request.valid_days),
                time(23, 59, 59),
                CHINA_STANDARD_TIME,
            )
            if request.valid_days
            else None
        )
        number = elicence_number(request.application_code)
        key_id, token = "", ""
        if self._elicence_keys is not None:
            # Signed before it is stored: the record and its signature are one row. A
            # retry signs again, but the first stored row (and token) wins.
            key_id = self._elicence_keys.current.key_id
            token = self._elicence_keys.sign(
                self._elicence_keys.payload_for(
                    number=number,
                    licence_type=request.licence_type,
                    holder_masked=holder_masked,
                    # The issuing region is the application code's first part (赋码).
                    issuer_region=request.application_code.partition("-")[0],
                    issued_at=issued_at,
                    valid_until=valid_until,
                )
            )
        licence = await self._elicences.issue(
            ELicence(
                number=number,
                application_code=request.application_code,
                matter_code=request.matter_code,
                licence_type=request.licence_type,
                holder_sealed=request.holder_sealed,
                holder_masked=holder_masked,
                issued_at=issued_at,
                valid_until=valid_until,
                key_id=key_id,
                token=token,
            )
        )
        return ELicenceResult(
            number=licence.number,
            holder_masked=licence.holder_masked,
            valid_until=licence.valid_until.astimezone(UTC).isoformat()
            if licence.valid_until
            else "",
            token=licence.token,
            key_id=licence.key_id,
        )

    @activity.defn(name="run_shared_data_checks")
    async def run_shared_data_checks(self, request: ChecksRequest) -> ChecksResult:
        """Look the applicant up in the base registries (数据共享). A registry that
        cannot be reached raises, and the activity is retried; a fact not found fails
        its check, and the applicant is asked for the paper instead."""
        if self._registry is None or self._sealer is None:
            # Retried: a worker started without a registry must not fail applications.
            raise ApplicationError("no base registry configured", type="NoRegistry")
        try:
            identifier = self._sealer.open(
                request.identifier_sealed, context=f"{request.application_code}:identifier"
            )
        except PiiError:
            # Not openable here: every check fails, and paper is asked for.
            identifier = ""
        form = json.loads(request.form_json) if request.form_json else {}
        results = await run_checks(
            self._registry,
            request.applicant_kind,
            identifier,
            request.checks,
            form if isinstance(form, dict) else {},
        )
        return ChecksResult(
            outcomes=[
                CheckOutcome(
                    r.check,
                    r.passed,
                    r.reason,
                    r.reason_zh,
                    registry=r.registry,
                    record_reference=r.record_reference,
                    checked_at=r.checked_at.isoformat() if r.checked_at else "",
                    code=r.code,
                )
                for r in results
            ],
            rule_version=RULES_VERSION,
        )

    @activity.defn(name="resolve_matter")
    async def resolve_matter(self, request: MatterRequest) -> MatterSnapshot:
        matter = (
            self._catalogue.matter_in(request.matter_code, request.region, default_jurisdictions())
            if request.region
            else self._catalogue.matter(request.matter_code)
        )
        if matter is None:
            raise ApplicationError(
                f"unknown matter {request.matter_code!r}", type="UnknownMatter", non_retryable=True
            )
        return MatterSnapshot(
            code=matter.code,
            name=matter.name_zh,
            day_kind=matter.day_kind.value,
            committed_days=matter.committed_days,
            tasks=[
                TaskSpec(
                    department_code=task.department,
                    task_name=task.task_zh,
                    committed_days=task.committed_days,
                    notify_applicant=task.notify_applicant_of_decision,
                    legal_days=task.legal_days or 0,
                )
                for task in matter.tasks
            ],
            materials=[
                MaterialSpec(
                    code=material.code,
                    deficiency_tolerable=material.deficiency_tolerable,
                    replaced_by_check=material.replaced_by_check or "",
                )
                for material in matter.materials
            ],
            elicence_type=matter.elicence_type or "",
            shared_data_checks=list(matter.shared_data_checks),
            auto_approval=matter.auto_approval,
            elicence_valid_days=matter.elicence_valid_days or 0,
            lead_department=matter.lead_department or "",
            extension_days=matter.extension_bound,
            acceptance_review_days=matter.acceptance_review_days or 0,
            joint_inspection=matter.joint_inspection_allowed,
            legal_days=matter.legal_days or 0,
            special_procedure_max_days=matter.special_procedure_limits,
        )

    @activity.defn(name="compute_deadlines")
    async def compute_deadlines(self, request: DeadlineRequest) -> DeadlineResult:
        accepted = _china_date(request.accepted_at)
        kind = DayKind(request.day_kind)
        due_at: list[datetime] = []
        provisional: list[bool] = []
        yellow_at: list[datetime] = []
        for days in request.limits:
            deadline = self._calendar.deadline(accepted, days, kind)
            due_at.append(_end_of_day(deadline.due))
            provisional.append(deadline.provisional)
            warn_after = yellow_point(days, request.yellow_share, request.yellow_days_left)
            yellow_at.append(_end_of_day(self._yellow_day(accepted, warn_after, kind)))
        return DeadlineResult(due_at=due_at, provisional=provisional, yellow_at=yellow_at)

    def _yellow_day(self, accepted: date, days: int, kind: DayKind) -> date:
        """A warning is an instant, not a deadline: natural days are not moved to the
        next working day, so it always comes before the red alert."""
        if kind is DayKind.WORKING:
            return self._calendar.add_working_days(accepted, days).due
        return accepted + timedelta(days=days)

    @activity.defn(name="extend_deadline")
    async def extend_deadline(self, request: ExtendRequest) -> ExtendResult:
        """Shift a clock by the days its pause took: working days for a working-day
        clock, calendar days otherwise; the pause's own days do not count."""
        paused, resumed = _china_date(request.paused_at), _china_date(request.resumed_at)
        kind = DayKind(request.day_kind)
        due, yellow, provisional = self._shift(
            _china_date(request.due_at), _china_date(request.yellow_at), paused, resumed, kind
        )
        legal = None
        if request.legal_due_at is not None:
            # The legal deadline stands still with the clock, as the committed one does.
            legal_day = _china_date(request.legal_due_at)
            moved, _, _ = self._shift(legal_day, legal_day, paused, resumed, kind)
            legal = _end_of_day(moved)
        return ExtendResult(_end_of_day(due), _end_of_day(yellow), provisional, legal)

    @activity.defn(name="add_days")
    async def add_days(self, request: AddDaysRequest) -> ExtendResult:
        """An approved extension: the deadlines `days` later (working days for a
        working-day clock; natural days otherwise, due on a working day)."""
        kind = DayKind(request.day_kind)
        due, yellow = _china_date(request.due_at), _china_date(request.yellow_at)
        # An extension adds to the legal limit too (art. 42: the law's own extension).
        legal = (
            _end_of_day(self._later(_china_date(request.legal_due_at), request.days, kind))
            if request.legal_due_at is not None
            else None
        )
        if kind is DayKind.WORKING:
            moved = self._calendar.add_working_days(due, request.days)
            yellow_moved = self._calendar.add_working_days(yellow, request.days).due
            return ExtendResult(
                _end_of_day(moved.due), _end_of_day(yellow_moved), moved.provisional, legal
            )
        moved_due = self._calendar.next_working_day(due + timedelta(days=request.days))
        return ExtendResult(
            _end_of_day(moved_due),
            _end_of_day(yellow + timedelta(days=request.days)),
            not self._calendar.is_known(moved_due),
            legal,
        )

    def _later(self, day: date, days: int, kind: DayKind) -> date:
        """A deadline `days` later: working days, or natural days due on a working day."""
        if kind is DayKind.WORKING:
            return self._calendar.add_working_days(day, days).due
        return self._calendar.next_working_day(day + timedelta(days=days))

    @activity.defn(name="recompute_deadline")
    async def recompute_deadline(self, request: RecomputeRequest) -> ExtendResult:
        """A clock's deadlines on the calendar as it is now: from acceptance, then moved
        by each pause it had. Run when a new year's notice makes provisional dates final."""
        accepted = _china_date(request.accepted_at)
        kind = DayKind(request.day_kind)
        deadline = self._calendar.deadline(accepted, request.days, kind)
        warn_after = yellow_point(request.days, request.yellow_share, request.yellow_days_left)
        due, yellow = deadline.due, self._yellow_day(accepted, warn_after, kind)
        provisional = deadline.provisional
        legal = self._calendar.deadline(accepted, request.legal_days, kind).due
        for paused_at, resumed_at in request.pauses:
            paused, resumed = _china_date(paused_at), _china_date(resumed_at)
            due, yellow, moved_provisional = self._shift(due, yellow, paused, resumed, kind)
            legal, _, _ = self._shift(legal, yellow, paused, resumed, kind)
            provisional = provisional or moved_provisional
        return ExtendResult(
            _end_of_day(due),
            _end_of_day(yellow),
            provisional,
            _end_of_day(legal) if request.legal_days else None,
        )

    def _shift(
        self, due: date, yellow: date, paused: date, resumed: date, kind: DayKind
    ) -> tuple[date, date, bool]:
        if kind is DayKind.WORKING:
            shift = self._calendar.working_days_between(paused, resumed)
            moved = self._calendar.add_working_days(due, shift)
            return moved.due, self._calendar.add_working_days(yellow, shift).due, moved.provisional
        days = timedelta(days=(resumed - paused).days)
        moved_due = self._calendar.next_working_day(due + days)
        return moved_due, yellow + days, not self._calendar.is_known(moved_due)

    @activity.defn(name="publish_event")
    async def publish_event(self, request: PublishRequest) -> None:
        """Publish with the id the workflow chose, so a retried activity is a duplicate
        that consumers drop, not a second event."""
        await publish(self._producer, self._topic(request), _envelope(request))
        await self._record_tasks(request)

    @activity.defn(name="publish_events")
    async def publish_events(self, batch: PublishBatch) -> None:
        """Publish several events in their order, each with the id the workflow chose:
        one activity and one broker round trip per topic instead of one per event."""
        by_topic: dict[str, list[Envelope]] = {}
        for request in batch.requests:
            by_topic.setdefault(self._topic(request), []).append(_envelope(request))
        for topic, envelopes in by_topic.items():
            await publish_all(self._producer, topic, envelopes)
        for request in batch.requests:
            await self._record_tasks(request)

    async def _record_tasks(self, request: PublishRequest) -> None:
        """The tasks the event's request carries, to the task list: after the event is
        out, so that no task shows before its start is published."""
        if self._task_list is not None and request.task_list is not None:
            await self._task_list.record(request.application_code, request.task_list)

    def _topic(self, request: PublishRequest) -> str:
        return topic_name(self._prefix, Stream(request.stream))


def _envelope(request: PublishRequest) -> Envelope:
    """The event of `request`, in the trace of the activity that publishes it."""
    trace = current_trace_headers()
    return Envelope(
        id=request.event_id,
        type=request.ce_type,
        source=SOURCE,
        subject=request.application_code,
        data=_data(request),
        time=request.time,
        traceparent=trace.get("traceparent", ""),
        tracestate=trace.get("tracestate", ""),
    )


def _data(request: PublishRequest) -> bytes:
    """The protobuf bytes of the request's event: mapped from the event as data, or
    the bytes a request scheduled by an older worker carries."""
    if request.event is None:
        return base64.b64decode(request.data_b64)
    event_type = EVENT_TYPES.get(request.ce_type)
    if event_type is None:
        raise ApplicationError(
            f"unknown event type {request.ce_type!r}", type="UnknownEvent", non_retryable=True
        )
    event = typed_value(event_type, request.event)
    return to_message(request.application_code, event).SerializeToString(deterministic=True)
