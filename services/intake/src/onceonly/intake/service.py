"""The intake use cases: accept a submission durably, read an application back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from onceonly.catalogue import Catalogue
from onceonly.intake.application_code import china_day, format_application_code
from onceonly.intake.errors import IdempotencyKeyReused
from onceonly.intake.events import (
    SealedPersonalData,
    application_submitted,
    seal_personal_data,
)
from onceonly.intake.idempotency import IdempotencyRequest, StoredAnswer
from onceonly.intake.outbox import OutboxRecord
from onceonly.intake.store import ApplicationRecord, ApplicationStore, IdempotentAnswer
from onceonly.intake.submission import Submission, SubmissionDraft, validate_submission
from onceonly.platform.envelope import new_envelope
from onceonly.platform.pii import PiiSealer
from onceonly.platform.topics import Stream, topic_name

log = structlog.get_logger(__name__)

EVENT_SOURCE = "/onceonly/intake"
SUBMITTED = "submitted"


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._sealer = sealer
        self._region = region_code
        self._topic = topic_name(topic_prefix, Stream.SUBMISSIONS)
        self._ttl = idempotency_ttl_hours
        self._clock = clock

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
            submission = validate_submission(draft, self._catalogue, today=day)
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
            body = _receipt(code, submission.matter_code, now)
            record = _application_record(
                submission,
                sealed,
                code=code,
                integrator_id=integrator_id,
                now=now,
                event_id=envelope.id,
            )
            answer = (
                IdempotentAnswer(idempotency, 201, body, self._ttl)
                if idempotency is not None
                else None
            )
            recorded = await session.record_submission(
                record, OutboxRecord.from_envelope(self._topic, envelope), answer
            )
            if not recorded:
                # A concurrent request with the same key committed first: answer as it did.
                assert idempotency is not None
                stored = await session.stored_answer(
                    integrator_id, idempotency.key, ttl_hours=self._ttl
                )
                assert stored is not None, "an idempotency key that was taken vanished"
                return self._replay(stored, idempotency)
        log.info(
            "application submitted",
            application_code=code,
            matter_code=submission.matter_code,
            integrator_id=integrator_id,
            event_id=envelope.id,
        )
        return Answer(201, body)

    @staticmethod
    def _replay(stored: StoredAnswer, request: IdempotencyRequest) -> Answer:
        if stored.request_sha256 != request.request_sha256:
            raise IdempotencyKeyReused(request.key)
        return Answer(stored.status, stored.body, replayed=True)

    async def application(self, *, integrator_id: str, code: str) -> ApplicationRecord | None:
        """The integrator's own application; None for another integrator's code."""
        return await self._store.application(integrator_id, code)


def _receipt(code: str, matter_code: str, now: datetime) -> dict[str, Any]:
    return {
        "application_code": code,
        "status": SUBMITTED,
        "matter_code": matter_code,
        "submitted_at": now.isoformat().replace("+00:00", "Z"),
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
        form=dict(submission.form),
        status=SUBMITTED,
        submitted_at=now,
        event_id=event_id,
    )
