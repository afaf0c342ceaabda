"""Settings of the notify process (consumer and API in one process)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator

from onceonly.platform.settings import PlatformSettings


class NotifySettings(PlatformSettings):
    notify_host: str = "127.0.0.1"
    notify_port: int = 8003
    notify_consumer_group: str = "onceonly-notify"
    # "local": notify.local_messages + the log (the default, used by the demo);
    # "http": a generic HTTP SMS gateway at notify_sms_gateway_url (see http_sms.py).
    notify_provider: Literal["local", "http"] = "local"
    notify_sms_gateway_url: str = ""
    notify_sms_gateway_token: SecretStr = SecretStr("")
    notify_sms_gateway_timeout_seconds: float = 10.0
    # Integrator webhooks: the retry loop's poll interval, the backoff (base doubling up
    # to the cap, with jitter), how long a delivery is retried, and one attempt's timeout.
    notify_webhook_poll_seconds: float = 1.0
    notify_webhook_retry_base_seconds: float = 5.0
    notify_webhook_retry_max_seconds: float = 3600.0
    notify_webhook_give_up_hours: float = 24.0
    notify_webhook_timeout_seconds: float = 10.0

    @model_validator(mode="after")
    def _gateway_configured(self) -> NotifySettings:
        if self.notify_provider == "http" and not self.notify_sms_gateway_url:
            raise ValueError("notify_provider=http needs ONCEONLY_NOTIFY_SMS_GATEWAY_URL")
        return self
