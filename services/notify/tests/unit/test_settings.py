"""Notify's consumer group follows the topic prefix unless it is named outright; local
webhook receivers only when development is set explicitly."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from onceonly.notify.settings import NotifySettings
from onceonly.notify.webhook_urls import STRICT


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ONCEONLY_TOPIC_PREFIX",
        "ONCEONLY_NOTIFY_CONSUMER_GROUP",
        "ONCEONLY_ENVIRONMENT",
        "ONCEONLY_NOTIFY_WEBHOOK_LOCAL_RECEIVERS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_group_follows_the_topic_prefix() -> None:
    # The default prefix keeps the group name that deployments already have.
    assert NotifySettings().notify_consumer_group == "onceonly-notify"
    assert NotifySettings(topic_prefix="chaos").notify_consumer_group == "chaos-notify"


def test_a_named_group_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCEONLY_NOTIFY_CONSUMER_GROUP", "ops-notify")
    assert NotifySettings(topic_prefix="chaos").notify_consumer_group == "ops-notify"


def test_webhooks_go_to_public_https_destinations_by_default() -> None:
    assert NotifySettings().webhook_destinations == STRICT
    assert NotifySettings(environment="development").webhook_destinations == STRICT


def test_local_webhook_receivers_need_development_set_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The default environment (development, today) is not enough: it must be said.
    with pytest.raises(ValidationError, match="ONCEONLY_ENVIRONMENT=development"):
        NotifySettings(notify_webhook_local_receivers=True)
    with pytest.raises(ValidationError, match="ONCEONLY_ENVIRONMENT=development"):
        NotifySettings(environment="test", notify_webhook_local_receivers=True)
    production_keys = {
        "pii_keys": "prod1:" + base64.b64encode(b"p" * 32).decode(),
        "signing_secret": "a-production-signing-secret-of-some-length",
    }
    with pytest.raises(ValidationError, match="ONCEONLY_ENVIRONMENT=development"):
        NotifySettings(
            environment="production", notify_webhook_local_receivers=True, **production_keys
        )
    assert (
        NotifySettings(environment="production", **production_keys).webhook_destinations == STRICT
    )
    monkeypatch.setenv("ONCEONLY_NOTIFY_WEBHOOK_LOCAL_RECEIVERS", "true")
    with pytest.raises(ValidationError):
        NotifySettings()
    monkeypatch.setenv("ONCEONLY_ENVIRONMENT", "development")
    assert NotifySettings().webhook_destinations.local_receivers
