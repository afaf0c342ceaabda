"""The intake use cases: accept a submission durably, read an application back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from onceonly.approval import ApprovalStatus
from onceonly.catalogue import Catalogue, Matter
from onceonly.intake.agents import Act, Authorisation, authorise
from onceonly.intake.application_code import china_day, format_application_code
from onceonly.intake.approval_status import outstanding_materials
from onceonly.intake.approval_store import ApprovalStore
from onceonly.intake.errors import (
    ApplicationNotFound,
    FieldIssue,
    IdempotencyKeyReused,
    NotHotline,
    SubmissionInvalid,
)
from onceonly.intake.events import (
    SealedPersonalData,
    application_submitted,
    consents_json,
    seal_personal_data,
)
from onceonly.intake.idempotency import IdempotencyRequest, StoredAnswer
from onceonly.intake.lookup_store import LookupStore
from onceonly.intake.lookups import Lookup
from onceonly.intake.outbox import OutboxRecord
from onceonly.intake.paging import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Position,
    decode_cursor,
    encode_cursor,
)
from onceonly.intake.store import (
    ApplicationRecord,
    ApplicationStore,
    ApplicationSummary,
    IdempotentAnswer,
    SubmissionSession,
)
from onceonly.intake.submission import (
    MaterialReference,
    Submission,
    SubmissionDraft,
    validate_submission,
)
from onceonly.intake.updates import Update, UpdateKind, kind_of, update_details, update_event
from onceonly.intake.uploads import is_upload, upload_id_of
from onceonly.intake.work_orders import (
    HOTLINE,
    WorkOrderDraft,
    format_order_code,
    seal_work_order,
    sequence_key,
    validate_work_order,
    work_order_filed,
)
from onceonly.platform.envelope import new_envelope
from onceonly.platform.pii import PiiSealer
from onceonly.platform.topics import Stream, topic_name

log = structlog.get_logger(__name__)

EVENT_SOURCE = "/onceonly/intake"
SUBMITTED = "submitted"


@dataclass(frozen=True, slots=True)
class ApplicationProgress:
    """An application, its approval state (None until examined) and the materials
    still missing."""

    record: ApplicationRecord
    approval: ApprovalStatus | None
    outstanding: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the API answers: the first answer again when `replayed`."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def application_path(code: str) -> str:
    return f"/v1/applications/{code}"


class IntakeService:
    def __init__(
        self,
        *,
        store: ApplicationStore,
        catalogue: Catalogue,
        sealer: PiiSealer,
        region_code: str,
        topic_prefix: str,
        idempotency_ttl_hours: float,
        approvals: ApprovalStore | None = None,
        lookups: LookupStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._sealer = sealer
        self._region = region_code
        self._topic = topic_name(topic_prefix, Stream.SUBMISSIONS)
        self._updates_topic = topic_name(topic_prefix, Stream.APPLICANT_UPDATES)
        self._work_orders_topic = topic_name(topic_prefix, Stream.WORK_ORDERS)
        self._ttl = idempotency_ttl_hours
        self._approvals = approvals
        self._lookups = lookups
        self._clock = clock

    @property
    def region(self) -> str:
        """The service centre's division: where its applications are submitted."""
        return self._region

    async def submit(
        self,
        *,
        integrator_id: str,
        draft: SubmissionDraft,
        idempotency: IdempotencyRequest | None,
        trace_headers: dict[str, str],
    ) -> Answer:
        """Validate, assign the code, and commit the application with its event.

        Returns only once the application and its outbox row are committed, so an
        answer of 201 is never lost. Raises SubmissionInvalid, IdempotencyKeyReused,
        SequenceExhausted.
        """
        async with self._store.session() as session:
            if idempotency is not None:
                stored = await session.stored_answer(
                    integrator_id, idempotency.key, ttl_hours=self._ttl
                )
                if stored is not None:
                    return self._replay(stored, idempotency)

            now = self._clock()
            day = china_day(now)
            # 全省通办: submitted at the integrator's own centre, where it has one.
            centre = await session.integrator_region(integrator_id)
            if centre:
                draft = replace(draft, submitted_region=centre)
            uploads = await _upload_issues(session, integrator_id, draft.materials)
            uploads += await _letter_issues(session, integrator_id, draft)
            try:
                submission = validate_submission(draft, self._catalogue, today=day)
            except SubmissionInvalid as exc:
                raise SubmissionInvalid([*exc.issues, *uploads]) from None
            if uploads:
                raise SubmissionInvalid(uploads)
            sequence = await session.next_sequence(self._region, day)
            code = format_application_code(self._region, day, sequence)
            sealed = seal_personal_data(self._sealer, submission, application_code=code)
            event = application_submitted(
                submission,
                sealed,
                application_code=code,
                integrator_id=integrator_id,
                submitted_at=now,
            )
            envelope = new_envelope(
                event,
                source=EVENT_SOURCE,
                application_code=code,
                time=now,
                trace_headers=trace_headers,
            )
            body = _receipt(code, submission, now)
            record = _application_record(
                submission,
                sealed,
                code=code,
                integrator_id=integrator_id,
                now=now,
                event_id=envelope.id,
            )
            first = await self._record_once(
                session,
                integrator_id,
                idempotency,
                Answer(201, body),
                lambda answer: session.record_submission(
                    record, OutboxRecord(self._topic, envelope), answer
                ),
            )
            if first is not None:
                return first
        log.info(
            "application submitted",
            application_code=code,
            matter_code=submission.matter_code,
            integrator_id=integrator_id,
            event_id=envelope.id,
        )
        return Answer(201, body)

    async def _record_once(
        self,
        session: SubmissionSession,
        integrator_id: str,
        idempotency: IdempotencyRequest | None,
        answer: Answer,
        record: Callable[[IdempotentAnswer | None], Awaitable[bool]],
    ) -> Answer | None:
        """Write through `record`, with `answer` kept under the Idempotency-Key if there is
        one: None once written, or the answer of a concurrent request with the same key
        that committed first (`record` wrote nothing then)."""
        kept = (
            IdempotentAnswer(idempotency, answer.status, answer.body, self._ttl)
            if idempotency is not None
            else None
        )
        if await record(kept):
            return None
        assert idempotency is not None
        stored = await session.stored_answer(integrator_id, idempotency.key, ttl_hours=self._ttl)
        assert stored is not None, "an idempotency key that was taken vanished"
        return self._replay(stored, idempotency)

    @staticmethod
    def _replay(stored: StoredAnswer, request: IdempotencyRequest) -> Answer:
        if stored.request_sha256 != request.request_sha256:
            raise IdempotencyKeyReused(request.key)
        return Answer(stored.status, stored.body, replayed=True)

    async def update(
        self,
        *,
        integrator_id: str,
        code: str,
        build: Callable[[Matter], Update],
        idempotency: IdempotencyRequest | None,
        trace_headers: dict[str, str],
        materials: Sequence[MaterialReference] = (),
        by_agent: bool = False,
    ) -> Answer:
        """Record a supplement, withdrawal request or rating with its event, durably.

        `build` validates the request against the application's matter (raising
        SubmissionInvalid). `by_agent`: the application's agent makes it, which its
        authorisation must allow today (else AgentNotAuthorised, nothing recorded).
        Raises ApplicationNotFound (also for another integrator's application),
        UpdateConflict, IdempotencyKeyReused.
        """
        async with self._store.session() as session:
            if idempotency is not None:
                stored = await session.stored_answer(
                    integrator_id, idempotency.key, ttl_hours=self._ttl
                )
                if stored is not None:
                    return self._replay(stored, idempotency)
            # On the session's connection: a second checkout while holding one could
            # exhaust the pool with every request waiting for its second connection.
            target = await session.update_target(integrator_id, code)
            matter = self._catalogue.matter(target.matter_code) if target else None
            if target is None or matter is None:
                raise ApplicationNotFound(code)
            uploads = await _upload_issues(session, integrator_id, materials)
            try:
                update = build(matter)
            except SubmissionInvalid as exc:
                raise SubmissionInvalid([*exc.issues, *uploads]) from None
            if uploads:
                raise SubmissionInvalid(uploads)
            kind = kind_of(update)
            now = self._clock()
            if by_agent:
                authorise(
                    Authorisation.from_json(target.authorisation)
                    if target.authorisation is not None
                    else None,
                    _ACTS[kind],
                    today=china_day(now),
                )
            envelope = new_envelope(
                update_event(update, application_code=code, at=now, by_agent=by_agent),
                source=EVENT_SOURCE,
                application_code=code,
                time=now,
                trace_headers=trace_headers,
            )
            body = {
                "application_code": code,
                "update": kind.value,
                "update_id": envelope.id,
                "received_at": _iso(now),
                "links": {"application": application_path(code)},
            }
            details = {**update_details(update), **({"by_agent": True} if by_agent else {})}
            first = await self._record_once(
                session,
                integrator_id,
                idempotency,
                Answer(202, body),
                lambda answer: session.record_update(
                    integrator_id=integrator_id,
                    application_code=code,
                    kind=kind.value,
                    details=details,
                    event=OutboxRecord(self._updates_topic, envelope),
                    answer=answer,
                ),
            )
            if first is not None:
                return first
        log.info(
            "applicant update recorded",
            application_code=code,
            update=kind.value,
            by_agent=by_agent,
            integrator_id=integrator_id,
            event_id=envelope.id,
        )
        return Answer(202, body)

    async def file_work_order(
        self,
        *,
        integrator_id: str,
        draft: WorkOrderDraft,
        idempotency: IdempotencyRequest | None,
        trace_headers: dict[str, str],
    ) -> Answer:
        """Record a 12345 work order with its WorkOrderFiled event, durably (the workflow
        bridge starts its workflow). Raises NotHotline, SubmissionInvalid,
        IdempotencyKeyReused."""
        async with self._store.session() as session:
            if not await session.has_capability(integrator_id, HOTLINE):
                raise NotHotline(integrator_id)
            if idempotency is not None:
                stored = await session.stored_answer(
                    integrator_id, idempotency.key, ttl_hours=self._ttl
                )
                if stored is not None:
                    return self._replay(stored, idempotency)
            matter = (
                await session.matter_of_any(draft.application_code)
                if draft.application_code is not None
                else None
            )
            order = validate_work_order(draft, self._catalogue, application_matter=matter)
            now = self._clock()
            day = china_day(now)
            sequence = await session.next_sequence(sequence_key(self._region), day)
            order_code = format_order_code(self._region, day, sequence)
            sealed = seal_work_order(self._sealer, order, order_code=order_code)
            event = work_order_filed(
                order,
                sealed,
                order_code=order_code,
                region_code=self._region,
                integrator_id=integrator_id,
                filed_at=now,
            )
            envelope = new_envelope(
                event,
                source=EVENT_SOURCE,
                application_code=event.application_code,
                time=now,
                trace_headers=trace_headers,
            )
            body = {
                "order_code": order_code,
                "kind": order.kind,
                "department_code": order.department_code,
                "application_code": order.application_code,
                "caller": {
                    "name": sealed.caller_name.masked,
                    "mobile": sealed.caller_mobile.masked,
                },
                "filed_at": _iso(now),
            }
            row = {
                "order_code": order_code,
                "kind": order.kind,
                "attached_application_code": order.application_code,
                "department_code": order.department_code,
                "region_code": self._region,
                "hotline_reference": order.hotline_reference,
                "content_sealed": sealed.content.sealed,
                "content_masked": sealed.content.masked,
                "caller_name_sealed": sealed.caller_name.sealed,
                "caller_name_masked": sealed.caller_name.masked,
                "caller_mobile_sealed": sealed.caller_mobile.sealed,
                "caller_mobile_masked": sealed.caller_mobile.masked,
                "filed_at": now,
            }
            first = await self._record_once(
                session,
                integrator_id,
                idempotency,
                Answer(201, body),
                lambda answer: session.record_work_order(
                    integrator_id, row, OutboxRecord(self._work_orders_topic, envelope), answer
                ),
            )
            if first is not None:
                return first
        log.info(
            "work order filed",
            order_code=order_code,
            department_code=order.department_code,
            integrator_id=integrator_id,
            event_id=envelope.id,
        )
        return Answer(201, body)

    async def applications_page(
        self,
        *,
        integrator_id: str,
        matter_code: str | None = None,
        status: str | None = None,
        submitted_from: datetime | None = None,
        submitted_to: datetime | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> tuple[list[ApplicationSummary], str | None]:
        """One page of the integrator's applications, newest first, and the cursor of
        the next page (None on the last). Raises InvalidValue for a malformed cursor."""
        after = decode_cursor(cursor) if cursor is not None else None
        limit = max(1, min(limit, MAX_LIMIT))
        # One row more than asked tells whether a next page exists.
        rows = await self._store.applications_page(
            integrator_id,
            matter_code=matter_code,
            status=status,
            submitted_from=submitted_from,
            submitted_to=submitted_to,
            after=after,
            limit=limit + 1,
        )
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor(Position(last.submitted_at, last.application_code))
        return page, next_cursor

    async def lookups(self, *, integrator_id: str, code: str) -> ApplicationLookups | None:
        """The shared-data lookups of the integrator's own application; None for another
        integrator's code (or an unknown one)."""
        if await self._store.application(integrator_id, code) is None:
            return None
        if self._lookups is None:
            return ApplicationLookups([], [])
        lookups, not_consented = await self._lookups.lookups(code)
        return ApplicationLookups(lookups, not_consented)

    async def application(self, *, integrator_id: str, code: str) -> ApplicationProgress | None:
        """The integrator's own application with where its approval stands; None for
        another integrator's code."""
        record = await self._store.application(integrator_id, code)
        if record is None:
            return None
        approval = await self._approvals.state_of(code) if self._approvals else None
        outstanding: tuple[str, ...] = ()
        if approval is not None and approval.missing_materials and self._approvals:
            # Supplements recorded after the request answer it. Both times come from
            # the services' clocks; the next acceptance event settles any doubt.
            supplied = await self._approvals.supplied_since(code, approval.missing_since)
            outstanding = outstanding_materials(approval, supplied)
        return ApplicationProgress(record, approval, outstanding)


_ACTS = {
    UpdateKind.SUPPLEMENT: Act.SUPPLEMENT,
    UpdateKind.WITHDRAWAL: Act.WITHDRAW,
    UpdateKind.RATING: Act.RATE,
}


@dataclass(frozen=True, slots=True)
class ApplicationLookups:
    """What was looked up for the applicant, and the checks not consented to."""

    lookups: list[Lookup]
    not_consented: list[str]


async def _letter_issues(
    session: SubmissionSession, integrator_id: str, draft: SubmissionDraft
) -> list[FieldIssue]:
    """A signed letter of authorisation must be one of the integrator's own uploads."""
    agent = draft.agent
    if agent is None or agent.given_by != "signed_letter" or not is_upload(agent.letter_reference):
        return []  # validate_agent names a letter that is not an upload reference
    upload = upload_id_of(agent.letter_reference)
    owned = await session.owned_uploads(integrator_id, [upload] if upload is not None else [])
    if upload is not None and upload in owned:
        return []
    return [
        FieldIssue(
            "agent.authorisation.letter_reference",
            "unknown_upload",
            "No upload of yours has this reference; upload the signed letter with"
            " POST /v1/materials.",
            "未找到该授权委托书的上传, 请先通过 POST /v1/materials 上传.",
        )
    ]


async def _upload_issues(
    session: SubmissionSession, integrator_id: str, materials: Sequence[MaterialReference]
) -> list[FieldIssue]:
    """An `upload:` reference must name one of the integrator's own uploads."""
    named = {
        index: upload_id_of(material.reference)
        for index, material in enumerate(materials)
        if is_upload(material.reference)
    }
    if not named:
        return []
    owned = await session.owned_uploads(
        integrator_id, [upload for upload in named.values() if upload is not None]
    )
    return [
        FieldIssue(
            f"materials.{index}.reference",
            "unknown_upload",
            "No upload of yours has this reference; upload the file with POST /v1/materials.",
            "未找到该上传材料, 请先通过 POST /v1/materials 上传.",
        )
        for index, upload in named.items()
        if upload not in owned
    ]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _receipt(code: str, submission: Submission, now: datetime) -> dict[str, Any]:
    return {
        "application_code": code,
        "status": SUBMITTED,
        "matter_code": submission.matter_code,
        "competent_region": submission.routing.competent_region,
        "submitted_at": _iso(now),
        "links": {"self": application_path(code)},
    }


def _application_record(
    submission: Submission,
    sealed: SealedPersonalData,
    *,
    code: str,
    integrator_id: str,
    now: datetime,
    event_id: str,
) -> ApplicationRecord:
    return ApplicationRecord(
        application_code=code,
        integrator_id=integrator_id,
        matter_code=submission.matter_code,
        applicant_kind=submission.applicant_kind.value,
        name_sealed=sealed.name.sealed,
        name_masked=sealed.name.masked,
        identifier_sealed=sealed.identifier.sealed,
        identifier_masked=sealed.identifier.masked,
        mobile_sealed=sealed.mobile.sealed,
        mobile_masked=sealed.mobile.masked,
        channels=submission.channels,
        language=submission.language,
        materials=[
            {"code": material.code, "reference": material.reference}
            for material in submission.materials
        ],
        form=sealed.form,
        status=SUBMITTED,
        submitted_at=now,
        event_id=event_id,
        submitted_region=submission.routing.submitted_region,
        competent_region=submission.routing.competent_region,
        agent=sealed.agent.stored() if sealed.agent is not None else None,
        consents=consents_json(submission, submitted_at=now),
    )
