"""Settings of the notify process (consumer and API in one process)."""

from __future__ import annotations

from typing import Literal

from onceonly.platform.settings import PlatformSettings


class NotifySettings(PlatformSettings):
    notify_host: str = "127.0.0.1"
    notify_port: int = 8003
    notify_consumer_group: str = "onceonly-notify"
    # Only the local provider exists yet (notify.local_messages + the log); HTTP SMS
    # gateways and app push plug in behind onceonly.notify.providers.Provider.
    notify_provider: Literal["local"] = "local"
