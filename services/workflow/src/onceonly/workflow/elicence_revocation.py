"""Revoking an issued e-licence (吊销/撤销电子证照): recorded with its reason, then published
as `ELicenceRevoked` on the approval events, keyed by the application code, so intake's
online verification answers "revoked" and the timeline shows it.

Who may: operations staff, or the head of the issuing department (the matter's lead
department, or its only department). The application's workflow has ended by then, so
this is not a workflow update: the row is the record, and the event's id is name-based
(one per licence), so a repeated revocation publishes the same event again, which makes
good a publish lost after the row was committed (consumers apply an id once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.catalogue import Catalogue
from onceonly.events.v1 import approval_pb2
from onceonly.platform.auth import StaffIdentity
from onceonly.platform.envelope import new_envelope
from onceonly.platform.events import event_type
from onceonly.platform.kafka import publish
from onceonly.platform.kafka_ports import Producer
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.elicences import ELicence, ELicenceStore
from onceonly.workflow.event_ids import event_key, logical_event_id

SOURCE = "/onceonly/workflow/elicences"
REVOKING_ROLES = ("operations", "department_head")


class ELicenceNotFound(LookupError):
    """No licence of that number (or not one the staff may revoke: the same answer)."""


def issuing_department(catalogue: Catalogue, matter_code: str) -> str | None:
    """The department that issues a matter's licence: its lead department, or its only one."""
    matter = catalogue.matter(matter_code)
    if matter is None:
        return None
    if matter.lead_department:
        return matter.lead_department
    return matter.tasks[0].department if len(matter.tasks) == 1 else None


def may_revoke(who: StaffIdentity, licence: ELicence, catalogue: Catalogue) -> bool:
    if "operations" in who.roles:
        return True
    issuer = issuing_department(catalogue, licence.matter_code)
    return "department_head" in who.roles and issuer == who.department_code


@dataclass(frozen=True)
class RevocationResult:
    licence: ELicence
    first: bool


async def revoke_elicence(
    *,
    store: ELicenceStore,
    producer: Producer,
    topic_prefix: str,
    catalogue: Catalogue,
    number: str,
    reason: str,
    who: StaffIdentity,
    now: datetime,
) -> RevocationResult:
    """Record the revocation (the first reason stays) and publish it; ELicenceNotFound."""
    found = await store.find(number)
    if found is None or not may_revoke(who, found, catalogue):
        raise ELicenceNotFound(number)
    revocation = await store.revoke(number, reason=reason, by=who.staff_id, at=now)
    if revocation is None:
        raise ELicenceNotFound(number)
    licence = revocation.licence
    assert licence.revoked_at is not None  # just revoked, now or before
    revoked_at = Timestamp()
    revoked_at.FromDatetime(licence.revoked_at)
    message = approval_pb2.ELicenceRevoked(
        application_code=licence.application_code,
        elicence_number=licence.number,
        reason=licence.revocation_reason,
        revoked_at=revoked_at,
        actor=approval_pb2.Actor(
            kind="staff", id=licence.revoked_by, department_code=who.department_code
        ),
    )
    envelope = new_envelope(
        message,
        source=SOURCE,
        application_code=licence.application_code,
        event_id=logical_event_id(licence.application_code, event_key(event_type(message)), 1),
        time=licence.revoked_at,
    )
    await publish(producer, topic_name(topic_prefix, Stream.APPROVAL_EVENTS), envelope)
    return RevocationResult(licence, revocation.first)
