"""Integrator webhooks, the pure part: which events become a webhook, its body, its
signature, and what to do after an attempt (retry with backoff and jitter, or stop).

The body carries no personal data: the application code, the event's type and id, the
application's status after it, and when it happened. Integrators deduplicate by the
event id, which is why a send in doubt may be repeated (unlike an SMS without a key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from google.protobuf.message import Message

from onceonly.events.v1 import approval_pb2

CHANNEL = "webhook"
SIGNATURE_HEADER = "X-OnceOnly-Signature"
KEY_ID_HEADER = "X-OnceOnly-Key-Id"
EVENT_ID_HEADER = "X-OnceOnly-Event-Id"

_ACCEPTANCE_STATUS = {
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED: "accepted",
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY: "accepted_with_deficiency",
    approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED: "supplement_requested",
    approval_pb2.ACCEPTANCE_OUTCOME_REFUSED: "refused",
}
_DECISION_STATUS = {
    approval_pb2.DECISION_OUTCOME_APPROVED: "task_approved",
    approval_pb2.DECISION_OUTCOME_REJECTED: "task_rejected",
    approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED: "supplement_requested",
}


def webhook_status(message: Message) -> str | None:
    """The application's status an event announces to its integrator, or None when the
    event is not a status change integrators hear of (e.g. TaskStarted)."""
    if isinstance(message, approval_pb2.ApplicationAccepted):
        return _ACCEPTANCE_STATUS.get(message.outcome, "accepted")
    if isinstance(message, approval_pb2.TaskDecided):
        return _DECISION_STATUS.get(message.outcome, "task_decided")
    if isinstance(message, approval_pb2.ApplicationCompleted):
        return "completed"
    if isinstance(message, approval_pb2.ApplicationRejected):
        return "rejected"
    if isinstance(message, approval_pb2.ApplicationWithdrawn):
        return "withdrawn"
    # Department practice that moves the date the applicant was given, or stops the clock:
    # the integrator shows it (the SMS tells the applicant too). A refused extension, a
    # return for re-review and an added department change nothing the applicant sees.
    if isinstance(message, approval_pb2.ExtensionDecided):
        return "extended" if message.approved else None
    if isinstance(message, approval_pb2.SpecialProcedureStarted):
        return "special_procedure_started"
    if isinstance(message, approval_pb2.SpecialProcedureEnded):
        return "special_procedure_ended"
    if isinstance(message, approval_pb2.ClocksResumed):
        return "supplement_received"
    if isinstance(message, approval_pb2.ELicenceRevoked):
        return "elicence_revoked"
    return None


def webhook_body(
    *, application_code: str, event_type: str, event_id: str, status: str, occurred_at: datetime
) -> str:
    """The JSON body, serialised once and stored, so every attempt signs the same bytes."""
    return json.dumps(
        {
            "application_code": application_code,
            # The short name ("TaskDecided"), not the protobuf package path.
            "event_type": event_type.rsplit(".", 1)[-1],
            "event_id": event_id,
            "status": status,
            "occurred_at": occurred_at.isoformat(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )


def new_secret() -> tuple[str, str]:
    """A fresh (key id, secret) pair for an integrator."""
    return f"wk_{secrets.token_hex(8)}", f"whsec_{secrets.token_urlsafe(32)}"


def signature(secret: str, timestamp: int, body: str) -> str:
    """HMAC-SHA256 over f"{timestamp}.{body}", hex: the `v1` of the signature header."""
    signed = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: str) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


class AttemptResult(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # temporary: 5xx, 408, 429, a timeout, no connection
    PERMANENT = "permanent"  # any other 4xx (or a redirect we do not follow)


def classify(status_code: int | None) -> AttemptResult:
    """What an HTTP status means for the delivery; None is a timeout or connection error."""
    if status_code is None or status_code >= 500 or status_code in (408, 429):
        return AttemptResult.RETRY
    if 200 <= status_code < 300:
        return AttemptResult.DELIVERED
    return AttemptResult.PERMANENT


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempts: int, *, rng: random.Random | None = None) -> float:
        """Exponential backoff with "equal jitter": half the capped delay, plus a random
        part up to the other half, so a burst of failures does not retry in lockstep."""
        capped = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return capped / 2 + (rng or random).uniform(0, capped / 2)

    def next_attempt(
        self,
        *,
        attempts: int,
        now: datetime,
        give_up_at: datetime,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try again, or None when the next try would fall after the give-up time."""
        at = now + timedelta(seconds=self.delay(attempts, rng=rng))
        return None if at > give_up_at else at
