"""Settings of the notify process (consumer and API in one process)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from onceonly.catalogue import is_department
from onceonly.notify.policy import QuietHours
from onceonly.notify.webhook_urls import DestinationPolicy
from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.secrets import DEVELOPMENT_RECIPIENT_HASH_KEY
from onceonly.platform.settings import PlatformSettings, development_refusal


class NotifySettings(PlatformSettings):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = (
        "pii_keys",
        "notify_api_token_keys",
        "notify_recipient_hash_key",
    )
    LISTEN_HOSTS: ClassVar[tuple[str, ...]] = ("notify_host",)
    DEVELOPMENT_KEYS: ClassVar[Mapping[str, str]] = {
        **PlatformSettings.DEVELOPMENT_KEYS,
        "notify_recipient_hash_key": DEVELOPMENT_RECIPIENT_HASH_KEY,
    }

    notify_host: str = "127.0.0.1"
    notify_port: int = 8003
    # As the department API's (workflow_api_max_body_bytes and the staff read limits);
    # the integrator API's bodies (webhook registrations) share the body limit.
    notify_max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    notify_staff_read_rate_per_second: float = Field(default=5.0, gt=0)
    notify_staff_read_burst: int = Field(default=30, ge=1)
    # Empty: "<topic_prefix>-notify", like the other services' groups, so that two
    # deployments sharing a broker (the fault-injection instance) never share a group.
    notify_consumer_group: str = ""
    # Messages of a fetched batch handled at once (one application's always in order):
    # each waits on Postgres for most of its time, so one at a time leaves the process
    # idle; 8 drained a backlog 1.7 times as fast. The messages handled at once share
    # their statements (batching.py), so more at once costs no more connections: 64
    # (about every application of a fetch of 200 records) drained 1,032 records/s where
    # 8 drained 579 (bench/notify_ingest.py, medians of 3 rounds, 2026-12-05). (Once,
    # after a Kafka restart, the aiokafka consumer never found its group coordinator
    # again; EventConsumer now replaces a consumer whose commit stalls, whatever this
    # setting.)
    notify_consumer_concurrency: int = Field(default=64, ge=1, le=256)
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
    # Development only: webhook URLs may also be http:// and reach loopback, private and
    # shared addresses and `localhost` (a receiver on the developer's machine, the tests'
    # stub integrators). Refused at start-up unless ONCEONLY_ENVIRONMENT=development is
    # set explicitly (not merely defaulted) and notify listens on loopback only, as for
    # the development keys. Off: https and public addresses only.
    notify_webhook_local_receivers: bool = False
    # App push: "local" (notify.local_messages, like SMS) or "http" (a push service at
    # notify_push_url, see app_push.py). Declare it idempotent only if the service
    # deduplicates by the Idempotency-Key header.
    notify_push_provider: Literal["local", "http"] = "local"
    notify_push_url: str = ""
    notify_push_token: SecretStr = SecretStr("")
    notify_push_idempotent: bool = False
    notify_push_timeout_seconds: float = 10.0
    # Department staff and the supervision office (staff.yaml format); empty: the demo
    # directory shipped with the package.
    notify_staff_directory: str = ""
    # Quiet hours in Beijing time for non-urgent messages, e.g. "22:00-08:00" (empty:
    # none), and at most this many SMS per hour to one number (0: no limit). Held-back
    # messages wait in the ledger and go out when allowed; urgent ones go out at once.
    notify_quiet_hours: str = ""
    # Intake's public address (https://..., no path): the acceptance SMS links the
    # applicant's mobile progress page at <this>/progress/<code>. Empty: no link.
    notify_progress_base_url: str = Field(
        default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$"
    )
    notify_sms_per_hour: int = Field(default=0, ge=0)
    # The loop that sends held-back messages: how often it looks, and how long one send
    # may take before a crashed sender's message is due again (then in doubt).
    notify_scheduler_poll_seconds: float = 1.0
    notify_scheduler_lease_seconds: float = 60.0
    # Keys the delivery ledger's recipients (HMAC of the mobile number), so the ledger
    # deduplicates and rate-limits by number without holding it. Changing it restarts the
    # per-number counts and lets a message redelivered across the change be sent again;
    # when upgrading from the single signing secret, set it to ONCEONLY_SIGNING_SECRET's
    # value to keep the ledger's keys (docs/security.md).
    notify_recipient_hash_key: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _gateway_configured(self) -> NotifySettings:
        if self.notify_provider == "http" and not self.notify_sms_gateway_url:
            raise ValueError("notify_provider=http needs ONCEONLY_NOTIFY_SMS_GATEWAY_URL")
        if self.notify_push_provider == "http" and not self.notify_push_url:
            raise ValueError("notify_push_provider=http needs ONCEONLY_NOTIFY_PUSH_URL")
        QuietHours.parse(self.notify_quiet_hours)  # refused at start-up, not at 22:00
        if not self.notify_consumer_group:
            self.notify_consumer_group = f"{self.topic_prefix}-notify"
        return self

    @model_validator(mode="after")
    def _local_receivers_only_in_development(self) -> NotifySettings:
        # Like the development keys: explicitly development, and listening on loopback.
        refusal = development_refusal(self)
        if self.notify_webhook_local_receivers and refusal is not None:
            raise ValueError(
                "ONCEONLY_NOTIFY_WEBHOOK_LOCAL_RECEIVERS needs ONCEONLY_ENVIRONMENT=development"
                f" on a loopback address ({refusal})"
            )
        return self

    def staff_tokens(self) -> StaffTokens:
        """How notify's staff API checks staff tokens (its own audience and keys)."""
        return StaffTokens.from_settings(self, StaffApi.NOTIFY, known_department=is_department)

    def recipient_hash_key(self) -> str:
        return self.notify_recipient_hash_key.get_secret_value()

    @property
    def webhook_destinations(self) -> DestinationPolicy:
        """Where webhooks may be registered to and sent."""
        return DestinationPolicy(local_receivers=self.notify_webhook_local_receivers)
