"""Notify's consumer group follows the topic prefix unless it is named outright."""

from __future__ import annotations

import pytest

from onceonly.notify.settings import NotifySettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ONCEONLY_TOPIC_PREFIX", "ONCEONLY_NOTIFY_CONSUMER_GROUP"):
        monkeypatch.delenv(name, raising=False)


def test_the_group_follows_the_topic_prefix() -> None:
    # The default prefix keeps the group name that deployments already have.
    assert NotifySettings().notify_consumer_group == "onceonly-notify"
    assert NotifySettings(topic_prefix="chaos").notify_consumer_group == "chaos-notify"


def test_a_named_group_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCEONLY_NOTIFY_CONSUMER_GROUP", "ops-notify")
    assert NotifySettings(topic_prefix="chaos").notify_consumer_group == "ops-notify"
