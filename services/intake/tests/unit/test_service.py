"""The submission use case with an in-memory store: codes, events, idempotency races."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import application_pb2
from onceonly.intake.application_code import parse_application_code
from onceonly.intake.errors import IdempotencyKeyReused, SubmissionInvalid
from onceonly.intake.idempotency import IdempotencyRequest, StoredAnswer
from onceonly.intake.outbox import OutboxRecord
from onceonly.intake.service import IntakeService
from onceonly.intake.store import ApplicationRecord, IdempotentAnswer
from onceonly.intake.submission import MaterialReference, SubmissionDraft
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

# 17:30 UTC is already the next day in China.
NOW = datetime(2025, 3, 2, 17, 30, tzinfo=UTC)
DRAFT = SubmissionDraft(
    matter_code="household-transfer",
    applicant_kind="person",
    applicant_name="张三",
    applicant_identifier="11010519491231002X",
    mobile="13812345678",
    materials=(MaterialReference("resident-id", "doc://1"),),
)


@dataclass
class MemoryStore:
    """Stands in for ApplicationStore and its session; `race` makes the next record lose
    to a concurrent twin."""

    sequences: dict[tuple[str, date], int] = field(default_factory=dict)
    answers: dict[tuple[str, str], StoredAnswer] = field(default_factory=dict)
    applications: list[ApplicationRecord] = field(default_factory=list)
    events: list[OutboxRecord] = field(default_factory=list)
    race: StoredAnswer | None = None
    centres: dict[str, str] = field(default_factory=dict)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[MemoryStore]:
        yield self

    async def integrator_region(self, integrator_id: str) -> str | None:
        return self.centres.get(integrator_id)

    async def next_sequence(self, region_code: str, day: date) -> int:
        key = (region_code, day)
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return self.sequences[key]

    async def stored_answer(self, integrator_id: str, key: str, *, ttl_hours: float) -> Any:
        return self.answers.get((integrator_id, key))

    async def record_submission(
        self, application: ApplicationRecord, event: OutboxRecord, answer: IdempotentAnswer | None
    ) -> bool:
        if answer is not None:
            slot = (application.integrator_id, answer.request.key)
            if self.race is not None:
                self.answers[slot], self.race = self.race, None
                return False
            self.answers[slot] = StoredAnswer(
                answer.request.request_sha256, answer.status, answer.body
            )
        self.applications.append(application)
        self.events.append(event)
        return True


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def service(store: MemoryStore) -> IntakeService:
    return IntakeService(
        store=store,  # type: ignore[arg-type]
        catalogue=default_catalogue(),
        sealer=PiiSealer(DEVELOPMENT_PII_KEY),
        region_code="330100",
        topic_prefix="onceonly",
        idempotency_ttl_hours=24,
        clock=lambda: NOW,
    )


async def submit(service: IntakeService, key: IdempotencyRequest | None = None) -> Any:
    return await service.submit(
        integrator_id="portal", draft=DRAFT, idempotency=key, trace_headers={}
    )


async def test_codes_follow_the_day_in_china_and_count_up(
    service: IntakeService, store: MemoryStore
) -> None:
    first, second = await submit(service), await submit(service)
    codes = [parse_application_code(a.body["application_code"]) for a in (first, second)]
    assert [(c.region, c.day, c.sequence) for c in codes] == [
        ("330100", date(2025, 3, 3), 1),
        ("330100", date(2025, 3, 3), 2),
    ]
    assert first.status == 201 and not first.replayed
    assert first.body["submitted_at"] == "2025-03-02T17:30:00Z"


async def test_the_event_goes_to_the_submissions_topic_with_the_trace(
    service: IntakeService, store: MemoryStore
) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    answer = await service.submit(
        integrator_id="portal",
        draft=DRAFT,
        idempotency=None,
        trace_headers={"traceparent": traceparent},
    )
    [event] = store.events
    [application] = store.applications
    assert event.topic == "onceonly.submissions.v1"
    assert event.envelope.subject == answer.body["application_code"]
    assert event.envelope.traceparent == traceparent
    assert event.envelope.id == application.event_id
    message = application_pb2.ApplicationSubmitted.FromString(event.envelope.data)
    assert message.applicant.identifier.sealed == application.identifier_sealed
    assert message.contact.mobile.sealed == application.mobile_sealed


async def test_invalid_drafts_record_nothing_and_use_no_number(
    service: IntakeService, store: MemoryStore
) -> None:
    with pytest.raises(SubmissionInvalid):
        await service.submit(
            integrator_id="portal",
            draft=replace(DRAFT, mobile="123"),
            idempotency=None,
            trace_headers={},
        )
    assert store.applications == [] and store.sequences == {}


async def test_losing_a_race_to_a_twin_answers_as_the_twin_did(
    service: IntakeService, store: MemoryStore
) -> None:
    key = IdempotencyRequest("k", b"same")
    store.race = StoredAnswer(b"same", 201, {"application_code": "twin's"})
    answer = await submit(service, key)
    assert answer.replayed and answer.body == {"application_code": "twin's"}
    assert store.applications == []


async def test_losing_a_race_to_a_different_request_is_refused(
    service: IntakeService, store: MemoryStore
) -> None:
    store.race = StoredAnswer(b"other", 201, {"application_code": "twin's"})
    with pytest.raises(IdempotencyKeyReused):
        await submit(service, IdempotencyRequest("k", b"mine"))


async def test_a_stored_answer_is_replayed_without_new_work(
    service: IntakeService, store: MemoryStore
) -> None:
    key = IdempotencyRequest("k", b"fingerprint")
    first = await submit(service, key)
    again = await submit(service, key)
    assert again.replayed and again.body == first.body and again.status == 201
    assert len(store.applications) == 1
    assert store.sequences == {("330100", date(2025, 3, 3)): 1}


async def test_submitted_at_the_integrators_own_centre_where_it_has_one(
    service: IntakeService, store: MemoryStore
) -> None:
    """全省通办: a Ningbo integrator's household transfer counts as submitted in Ningbo's
    Haishu district, and is decided there (no place named: the centre's county)."""
    await submit(service)
    store.centres["portal"] = "330203"
    await submit(service)
    first, second = store.applications
    assert (first.submitted_region, first.competent_region) == ("330100", "330100")
    assert (second.submitted_region, second.competent_region) == ("330203", "330203")
