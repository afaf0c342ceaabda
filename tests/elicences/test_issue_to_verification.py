"""Issue 17, item 3: verifiable e-licences, from issue to public verification, on the test
database. The workflow's `issue_elicence` activity signs and stores a licence; intake
follows the completion (and, later, the revocation published by the department API) as
its approval follower does, and its public endpoint answers genuine, then revoked; an
expired licence, one with a changed byte, one signed by an unknown key and one never
issued get their own answers. The offline verifier agrees on the same token.

Kafka is left out (the events go from the producer's record straight to the follower's
handler): the topics' own tests cover it.
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.events.v1 import approval_pb2
from onceonly.intake.api import create_app as create_intake
from onceonly.intake.approval_follower import ApprovalFollower
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import IntegratorStore
from onceonly.platform.elicence_signatures import Outcome, SigningKeys, verify
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.memory_kafka import MemoryBroker, MemoryProducer
from onceonly.platform.pii import PiiSealer
from onceonly.platform.testing import migrated_pool, unique_prefix
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.api import create_app as create_department_api
from onceonly.workflow.elicences import PostgresELicenceStore
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import ELicenceRequest, ELicenceResult

pytestmark = pytest.mark.integration

APPLICATION: dict[str, Any] = {
    "matter_code": "household-transfer",
    "applicant": {"kind": "person", "name": "张三丰", "identifier": "11010519491231002X"},
    "contact": {"mobile": "13812345678", "channels": ["sms"], "language": "zh"},
    "materials": [
        {"code": "transfer-application", "reference": "doc://portal/1"},
        {"code": "household-register", "reference": "doc://portal/2"},
    ],
    "form": {"destination": "杭州市西湖区"},
}
PERSONAL = ("张三丰", "11010519491231002X", "13812345678")


class Both:
    """The workflow's side (activities, department API) and intake's, on one database."""

    def __init__(self, database_url: str, pool: asyncpg.Pool) -> None:
        prefix = unique_prefix()
        self.workflow = WorkflowSettings(
            environment="development", database_url=database_url, topic_prefix=prefix
        )
        self.intake = IntakeSettings(
            environment="development", database_url=database_url, topic_prefix=prefix
        )
        self.pool = pool
        self.broker = MemoryBroker()
        self.activities = ApprovalActivities(
            producer=MemoryProducer(self.broker),
            topic_prefix=prefix,
            catalogue=default_catalogue(),
            calendar=default_calendar(),
            sealer=PiiSealer(self.workflow.pii_keys.get_secret_value()),
            elicences=PostgresELicenceStore(pool),
            elicence_keys=self.workflow.elicence_keys(),
        )
        self.follower = ApprovalFollower.from_settings(pool, self.intake)

    async def issue(self, code: str, sealed: str, *, days_ago: int = 0) -> ELicenceResult:
        """As the workflow completes: the activity, then `ApplicationCompleted`."""
        request = ELicenceRequest(
            application_code=code,
            matter_code="household-transfer",
            licence_type="household-transfer-certificate",
            holder_sealed=sealed,
            issued_at=datetime.now(UTC) - timedelta(days=days_ago),
            valid_days=365,
        )
        return await ActivityEnvironment().run(self.activities.issue_elicence, request)

    async def completed(self, code: str, licence: ELicenceResult) -> None:
        message = approval_pb2.ApplicationCompleted(
            application_code=code,
            matter_code="household-transfer",
            elicence_number=licence.number,
            elicence_type="household-transfer-certificate",
            elicence_holder_masked=licence.holder_masked,
        )
        await self.follower.handle(
            new_envelope(message, source="/onceonly/workflow", application_code=code)
        )

    async def follow_published(self) -> int:
        """Hand what the department API published to intake's follower."""
        records = self.broker.records(
            topic_name(self.workflow.topic_prefix, Stream.APPROVAL_EVENTS)
        )
        for record in records:
            await self.follower.handle(Envelope.from_kafka(list(record.headers), record.value))
        return len(records)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with (
        migrated_pool(database_url, component="intake", package="onceonly.intake") as created,
        migrated_pool(database_url, component="workflow", package="onceonly.workflow"),
    ):
        yield created


async def test_a_licence_from_issue_to_verification_and_revocation(
    database_url: str, pool: asyncpg.Pool
) -> None:
    both = Both(database_url, pool)
    _, key = await IntegratorStore(pool).create_integrator(f"elicence test {unique_prefix()}")
    integrator = {"Authorization": f"Bearer {key.token}"}
    intake = create_intake(both.intake, pool=pool)
    department = create_department_api(both.workflow, client=cast(Client, object()))
    department.state.department.producer = MemoryProducer(both.broker)
    codes: list[str] = []
    async with (
        intake.router.lifespan_context(intake),
        department.router.lifespan_context(department),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=intake), base_url="http://intake.test"
        ) as public,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=department), base_url="http://department.test"
        ) as staff,
    ):

        async def submit() -> tuple[str, str]:
            answer = await public.post(
                "/v1/applications", json=copy.deepcopy(APPLICATION), headers=integrator
            )
            assert answer.status_code == 201, answer.text
            code = answer.json()["application_code"]
            codes.append(code)
            # The submission's sealed identifier, as the workflow receives it.
            sealed = await pool.fetchval(
                "SELECT identifier_sealed FROM intake.applications WHERE application_code = $1",
                code,
            )
            return code, sealed

        async def check(token: str) -> dict[str, Any]:
            answer = await public.get("/v1/elicences/verification", params={"t": token})
            assert answer.status_code == 200, answer.text
            assert not any(personal in answer.text for personal in PERSONAL)
            return answer.json()

        try:
            code, sealed = await submit()
            licence = await both.issue(code, sealed)
            assert licence.token and licence.key_id == "dev-elicence"
            await both.completed(code, licence)
            genuine = await check(licence.token)
            assert genuine["outcome"] == "genuine"
            assert genuine["licence"]["number"] == f"EL-{code}"
            assert genuine["licence"]["holder_masked"] == "1101**************"
            published = (await public.get("/v1/elicences/keys")).json()
            offline = verify(
                licence.token,
                both.workflow.published_elicence_keys(),
                now=datetime.now(UTC),
            )
            assert offline.outcome is Outcome.GENUINE
            assert published == both.workflow.published_elicence_keys().to_json()

            old_code, old_sealed = await submit()
            old = await both.issue(old_code, old_sealed, days_ago=400)
            await both.completed(old_code, old)
            assert (await check(old.token))["outcome"] == "expired"

            payload, signature = licence.token.split(".")
            data = bytearray(base64.urlsafe_b64decode(payload + "=="))
            data[-3] ^= 0x01
            changed = base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()
            assert (await check(f"{changed}.{signature}"))["outcome"] == "unknown"

            rogue = SigningKeys.parse(
                "dev-elicence:" + base64.b64encode(os.urandom(32)).decode(), setting="test"
            )
            forged = rogue.sign(
                rogue.payload_for(
                    number=f"EL-{code}",
                    licence_type="household-transfer-certificate",
                    holder_masked="1101**************",
                    issuer_region="330100",
                    issued_at=datetime.now(UTC),
                    valid_until=None,
                )
            )
            assert (await check(forged))["outcome"] == "unknown"

            never_code, never_sealed = await submit()
            never = await both.issue(never_code, never_sealed)  # issued, intake never told
            assert (await check(never.token))["reason"] == "no e-licence of this number on record"

            operations = both.workflow.staff_tokens().issue(
                staff_id="ops-1", department_code="operations-centre", roles=("operations",)
            )
            revoked = await staff.post(
                f"/v1/elicences/{licence.number}/revocation",
                json={"reason": "以欺骗手段取得 / obtained by deception"},
                headers={"Authorization": f"Bearer {operations}"},
            )
            assert revoked.status_code == 200, revoked.text
            assert await both.follow_published() == 1
            assert (await check(licence.token))["outcome"] == "revoked"
            # Offline, without a revocation list, it cannot know.
            keys = both.workflow.published_elicence_keys()
            assert verify(licence.token, keys, now=datetime.now(UTC)).outcome == "genuine"
        finally:
            await pool.execute(
                "DELETE FROM workflow.elicences WHERE application_code = ANY($1::text[])", codes
            )
