"""The ledger's rules: keys, recipient hashing, and what a (re)delivered event does."""

from __future__ import annotations

import uuid

import pytest

from onceonly.notify.ledger import (
    Action,
    DeliveryState,
    DeliveryStatus,
    LedgerKey,
    channels_for,
    next_action,
    recipient_hash,
)

SECRET = "test-signing-secret"


def test_recipient_hash_is_keyed_and_holds_no_digits_of_the_number() -> None:
    digest = recipient_hash(SECRET, "13812345678")
    assert digest == recipient_hash(SECRET, " 13812345678 ")
    assert digest != recipient_hash("another-secret", "13812345678")
    assert digest != recipient_hash(SECRET, "13812345679")
    assert len(digest) == 64
    assert "13812345678" not in digest


def test_outcome_event_id_is_deterministic_per_event_channel_recipient() -> None:
    key = LedgerKey("event-1", "sms", "abc")
    assert key.outcome_event_id == LedgerKey("event-1", "sms", "abc").outcome_event_id
    assert key.outcome_event_id == str(uuid.uuid5(uuid.NAMESPACE_URL, "event-1/sms/abc"))
    assert key.outcome_event_id != LedgerKey("event-1", "app", "abc").outcome_event_id
    assert key.outcome_event_id != LedgerKey("event-2", "sms", "abc").outcome_event_id
    assert key.idempotency_key == "event-1/sms/abc"


def _state(status: DeliveryStatus, *, in_doubt: bool = False, published: bool = False):
    return DeliveryState(status=status, in_doubt=in_doubt, outcome_published=published)


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_fresh_delivery_is_sent(idempotent: bool) -> None:
    state = _state(DeliveryStatus.PENDING)
    assert next_action(state, provider_idempotent=idempotent) is Action.SEND


@pytest.mark.parametrize(
    "status", [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.POSSIBLY_SENT]
)
@pytest.mark.parametrize("idempotent", [True, False])
def test_a_settled_and_reported_delivery_does_nothing_again(
    status: DeliveryStatus, idempotent: bool
) -> None:
    state = _state(status, published=True)
    assert next_action(state, provider_idempotent=idempotent) is Action.NOTHING


@pytest.mark.parametrize(
    "status", [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.POSSIBLY_SENT]
)
def test_a_settled_delivery_whose_outcome_was_lost_only_republishes(
    status: DeliveryStatus,
) -> None:
    state = _state(status, in_doubt=True, published=False)
    assert next_action(state, provider_idempotent=False) is Action.PUBLISH_OUTCOME


def test_a_crash_mid_send_is_finished_through_an_idempotent_provider() -> None:
    state = _state(DeliveryStatus.PENDING, in_doubt=True)
    assert next_action(state, provider_idempotent=True) is Action.SEND


def test_a_crash_mid_send_is_never_blindly_repeated_without_idempotency() -> None:
    state = _state(DeliveryStatus.PENDING, in_doubt=True)
    assert next_action(state, provider_idempotent=False) is Action.MARK_POSSIBLY_SENT


def test_a_send_known_not_to_have_happened_is_retried_by_any_provider() -> None:
    # A temporary failure the provider was sure of releases the doubt.
    state = _state(DeliveryStatus.PENDING, in_doubt=False)
    assert next_action(state, provider_idempotent=False) is Action.SEND


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ([], ["sms"]),
        (["sms"], ["sms"]),
        (["app", "sms"], ["sms", "app"]),
        (["SMS "], ["sms"]),
        (["app"], ["app"]),
        (["email"], []),
        ([""], ["sms"]),
    ],
)
def test_channels(requested: list[str], expected: list[str]) -> None:
    assert channels_for(requested) == expected


def test_a_deferred_delivery_is_left_to_the_scheduler() -> None:
    state = DeliveryState(
        DeliveryStatus.PENDING, in_doubt=False, outcome_published=False, deferred=True
    )
    assert next_action(state, provider_idempotent=True) is Action.WAIT
    assert next_action(state, provider_idempotent=True, scheduled=True) is Action.SEND
    doubtful = DeliveryState(
        DeliveryStatus.PENDING, in_doubt=True, outcome_published=False, deferred=True
    )
    assert next_action(doubtful, provider_idempotent=False) is Action.WAIT
    assert (
        next_action(doubtful, provider_idempotent=False, scheduled=True)
        is Action.MARK_POSSIBLY_SENT
    )
