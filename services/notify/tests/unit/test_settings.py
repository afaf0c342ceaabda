"""Notify's consumer group follows the topic prefix unless it is named outright; local
webhook receivers only when development is set explicitly, on loopback; notify's own
keys (the recipient hash apart from everything else)."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from onceonly.notify.settings import NotifySettings
from onceonly.notify.webhook_urls import STRICT
from onceonly.platform.auth import StaffApi
from onceonly.platform.http import Problem
from onceonly.platform.secrets import DEVELOPMENT_RECIPIENT_HASH_KEY
from onceonly.platform.testing import production_keys as fresh_production_keys


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ONCEONLY_"):
            monkeypatch.delenv(name)


def test_the_group_follows_the_topic_prefix() -> None:
    # The default prefix keeps the group name that deployments already have.
    assert NotifySettings(environment="development").notify_consumer_group == "onceonly-notify"
    chaos = NotifySettings(environment="development", topic_prefix="chaos")
    assert chaos.notify_consumer_group == "chaos-notify"


def test_a_named_group_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCEONLY_NOTIFY_CONSUMER_GROUP", "ops-notify")
    named = NotifySettings(environment="development", topic_prefix="chaos")
    assert named.notify_consumer_group == "ops-notify"


def test_webhooks_go_to_public_https_destinations_by_default() -> None:
    assert NotifySettings(environment="development").webhook_destinations == STRICT
    assert (
        NotifySettings(environment="production", **fresh_production_keys()).webhook_destinations
        == STRICT
    )


def test_notify_has_its_own_keys() -> None:
    settings = NotifySettings(environment="development")
    assert settings.recipient_hash_key() == DEVELOPMENT_RECIPIENT_HASH_KEY
    assert settings.staff_tokens().api is StaffApi.NOTIFY
    keys = fresh_production_keys()
    production = NotifySettings(environment="production", **keys)
    assert production.recipient_hash_key() == keys["notify_recipient_hash_key"]
    assert production.staff_tokens().keys.ids == (keys["notify_api_token_keys"].split(":")[0],)
    missing = {key: value for key, value in keys.items() if key != "notify_recipient_hash_key"}
    with pytest.raises(ValidationError, match="ONCEONLY_NOTIFY_RECIPIENT_HASH_KEY"):
        NotifySettings(environment="production", **missing)
    with pytest.raises(ValidationError, match="ONCEONLY_NOTIFY_RECIPIENT_HASH_KEY"):
        NotifySettings(
            environment="production",
            **(keys | {"notify_recipient_hash_key": DEVELOPMENT_RECIPIENT_HASH_KEY}),
        )


def test_local_webhook_receivers_need_development_set_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An unset environment is not enough: development must be said.
    production_keys = fresh_production_keys()
    with pytest.raises(ValidationError, match="ONCEONLY_ENVIRONMENT=development"):
        NotifySettings(notify_webhook_local_receivers=True, **production_keys)
    with pytest.raises(ValidationError, match="ONCEONLY_ENVIRONMENT=development"):
        NotifySettings(environment="test", notify_webhook_local_receivers=True, **production_keys)
    # Development, but reachable from elsewhere: the same refusal as the keys'.
    with pytest.raises(ValidationError, match=r"ONCEONLY_NOTIFY_HOST=0\.0\.0\.0"):
        NotifySettings(
            environment="development",
            notify_host="0.0.0.0",
            notify_webhook_local_receivers=True,
            **production_keys,
        )
    with pytest.raises(ValidationError, match="ONCEONLY_ENVIRONMENT=development"):
        NotifySettings(
            environment="production", notify_webhook_local_receivers=True, **production_keys
        )
    assert (
        NotifySettings(environment="production", **production_keys).webhook_destinations == STRICT
    )
    monkeypatch.setenv("ONCEONLY_NOTIFY_WEBHOOK_LOCAL_RECEIVERS", "true")
    with pytest.raises(ValidationError):
        NotifySettings(**production_keys)
    monkeypatch.setenv("ONCEONLY_ENVIRONMENT", "development")
    assert NotifySettings().webhook_destinations.local_receivers


def test_staff_of_a_department_not_in_the_catalogue_are_refused() -> None:
    # The one check where tokens are verified; supervision and operations offices are
    # outside the catalogue, so only the department roles' department is checked.
    tokens = NotifySettings(environment="development").staff_tokens()
    nowhere = tokens.issue(staff_id="x", department_code="no-such-department", roles=("reviewer",))
    with pytest.raises(Problem) as refused:
        tokens.verify(nowhere)
    assert refused.value.status == 401
    office = tokens.issue(staff_id="x", department_code="operations", roles=("operations",))
    assert tokens.verify(office).roles == ("operations",)
