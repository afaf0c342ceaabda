"""Settings shared by every process; each service subclasses `PlatformSettings`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A well-known key so that a fresh checkout runs; refused outside development and test.
DEVELOPMENT_PII_KEY = "dev1:b25jZW9ubHktZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZSE="
DEVELOPMENT_SECRET = "onceonly-development-signing-secret-not-for-production"  # noqa: S105 - refused in production


class PlatformSettings(BaseSettings):
    """Connection and security settings, read from `ONCEONLY_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ONCEONLY_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly"
    database_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "onceonly"
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "joint-approval"
    # Comma-separated `key_id:base64(32 bytes)`; the first seals, all can open (rotation).
    pii_keys: SecretStr = SecretStr(DEVELOPMENT_PII_KEY)
    # Signs department staff tokens and anything else that needs a shared HMAC secret.
    signing_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    log_level: str = "INFO"
    heartbeat_seconds: float = 2.0
    # How often an API refreshes the gauges it computes (consumer lag, backlogs, counts).
    metrics_refresh_seconds: float = 5.0
    # How long a consumer's event may wait for what it needs first (its application's
    # submission, its cause) before it is parked on the dead-letter topic, and how often
    # waiting events are tried again (onceonly.platform.deferral).
    deferral_max_wait_seconds: float = Field(default=3600.0, gt=0)
    deferral_sweep_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> PlatformSettings:
        if self.environment == "production":
            if self.pii_keys.get_secret_value() == DEVELOPMENT_PII_KEY:
                raise ValueError("ONCEONLY_PII_KEYS must be set in production")
            if self.signing_secret.get_secret_value() == DEVELOPMENT_SECRET:
                raise ValueError("ONCEONLY_SIGNING_SECRET must be set in production")
        return self
