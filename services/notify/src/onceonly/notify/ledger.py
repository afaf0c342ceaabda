"""The delivery ledger's rules (pure): keys, recipient hashing, and what to do next.

A delivery is keyed by (event id, channel, recipient hash). The row is written before
sending and completed after, so that a redelivered event finds it and sends nothing
new, and a crash between "sending" and "sent" is seen for what it is: a send in doubt.
A send in doubt is repeated only through a provider that deduplicates by idempotency
key; otherwise it is recorded as possibly sent and never blindly repeated.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    POSSIBLY_SENT = "possibly_sent"


class Action(StrEnum):
    SEND = "send"  # nothing is in flight: send (again)
    MARK_POSSIBLY_SENT = "mark_possibly_sent"  # in doubt, and a resend could duplicate
    PUBLISH_OUTCOME = "publish_outcome"  # settled, but its outcome event may be missing
    NOTHING = "nothing"  # settled and reported: a plain redelivery
    WAIT = "wait"  # deferred (quiet hours, rate limit, retry): the scheduler sends it


def recipient_hash(secret: str, recipient: str) -> str:
    """HMAC-SHA256 of the recipient, so the ledger can key on it without holding it."""
    return hmac.new(secret.encode(), recipient.strip().encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class LedgerKey:
    event_id: str
    channel: str
    recipient_hash: str

    @property
    def idempotency_key(self) -> str:
        """What providers deduplicate on: one key per (event, channel, recipient)."""
        return f"{self.event_id}/{self.channel}/{self.recipient_hash}"

    @property
    def outcome_event_id(self) -> str:
        """The NotificationSent event's id: deterministic, so a re-publish is a duplicate
        that downstream consumers drop."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.idempotency_key))


@dataclass(frozen=True, slots=True)
class DeliveryState:
    status: DeliveryStatus
    # A send was started and has not ended with a known result (a crash, or a timeout).
    in_doubt: bool
    outcome_published: bool
    # Waiting for the scheduler (a due time is set): not the consumer's to send.
    deferred: bool = False


def next_action(
    state: DeliveryState, *, provider_idempotent: bool, scheduled: bool = False
) -> Action:
    """What a (re)delivered event (or, with `scheduled`, the scheduler that found it due)
    should do about a delivery in `state`."""
    if state.status is not DeliveryStatus.PENDING:
        return Action.NOTHING if state.outcome_published else Action.PUBLISH_OUTCOME
    if state.deferred and not scheduled:
        return Action.WAIT
    if not state.in_doubt or provider_idempotent:
        return Action.SEND
    return Action.MARK_POSSIBLY_SENT


SERVED_CHANNELS = ("sms", "app")


def channels_for(requested: list[str]) -> list[str]:
    """The channels notify serves for a contact's preferences (SMS and/or app push), in
    a fixed order; SMS when the contact states none."""
    wanted = {channel.strip().lower() for channel in requested if channel.strip()}
    if not wanted:
        return ["sms"]
    return [channel for channel in SERVED_CHANNELS if channel in wanted]
