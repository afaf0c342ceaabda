"""Settings of the intake API and the outbox relay (`ONCEONLY_*` variables)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import ClassVar

from pydantic import Field, field_validator

from onceonly.intake.client_address import Network, parse_proxies
from onceonly.intake.lockout import LockoutRule
from onceonly.platform.elicence_signatures import PublishedKeys, SigningKeys
from onceonly.platform.secrets import (
    DEVELOPMENT_ELICENCE_SIGNING_KEYS,
    SettingsRefused,
    env_name,
    read_secret_file,
)
from onceonly.platform.settings import PlatformSettings, development_refusal


class IntakeSettings(PlatformSettings):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("pii_keys",)
    LISTEN_HOSTS: ClassVar[tuple[str, ...]] = ("intake_host",)

    intake_host: str = "127.0.0.1"
    intake_port: int = 8000
    # API processes (uvicorn workers) sharing the port. Each has its own rate limits,
    # database pool (database_pool_max each) and Prometheus registry (/metrics shows
    # the worker that answered).
    intake_workers: int = Field(default=1, ge=1, le=64)
    # Administrative division code (GB/T 2260) of the service centre: the first part of
    # every application code it assigns.
    region_code: str = Field(default="330100", pattern=r"^[0-9]{6}$")
    # Larger requests are refused with 413 before they are read into memory.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Uploaded materials (PDF, PNG, JPEG) may be this large; other bodies max_body_bytes.
    material_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    # Images are decoded in full to be checked: at most this many pixels (A4 at 600 dpi is
    # 35 megapixels). Pillow's own bomb threshold is 89 million.
    material_max_pixels: int = Field(default=40_000_000, ge=10_000, le=89_000_000)
    # Per integrator and day (China Standard Time): uploads kept and their bytes. An upload
    # of bytes already uploaded costs nothing; beyond either, 429 until the next day.
    material_daily_uploads: int = Field(default=2_000, ge=1)
    material_daily_bytes: int = Field(default=2 * 1024**3, ge=1024)
    # A request not answered within this (e.g. waiting for a database connection under
    # overload) is answered 503 with Retry-After instead of hanging.
    request_timeout_seconds: float = Field(default=15.0, gt=0)
    # A retry with the same Idempotency-Key is answered from storage for this long.
    idempotency_ttl_hours: float = Field(default=24.0, ge=24.0)

    # A key verified in the last this many seconds is not looked up again (a round trip
    # per request saved); so a revoked key is refused within this long. An integrator's
    # centre (its region) is kept as long, so a change of centre applies within it. 0:
    # every request looks both up.
    integrator_key_cache_seconds: float = Field(default=5.0, ge=0, le=60)

    # Per-integrator token buckets on POSTs (per API process): sustained rate and burst.
    integrator_post_rate_per_second: float = Field(default=10.0, gt=0)
    integrator_post_burst: int = Field(default=50, ge=1)
    # The citizen progress lookup needs no key; it is limited per client IP address
    # (in process: see trusted_proxies for what the client address is).
    progress_rate_per_minute: float = Field(default=10.0, gt=0)
    progress_burst: int = Field(default=5, ge=1)
    # ... and, shared by every replica (in Postgres): a code is locked for
    # progress_lockout_seconds after progress_lockout_failures wrong answers within
    # progress_lockout_window_seconds, and the deployment answers 429 to lookups by
    # digits once progress_failures_per_minute lookups failed in the current minute.
    progress_lockout_failures: int = Field(default=5, ge=1)
    progress_lockout_window_seconds: float = Field(default=900.0, gt=0)
    progress_lockout_seconds: float = Field(default=900.0, gt=0)
    progress_failures_per_minute: int = Field(default=60, ge=1)
    # The operators' calendar notices (YYYY.yaml), as for the workflow: the progress
    # lookup counts the working days left on the same calendar as the deadlines.
    calendar_dir: str = ""
    # Reverse proxies (IP addresses or CIDR networks, comma-separated) whose
    # X-Forwarded-For is believed; empty: the header is never believed and the client is
    # the peer. The uvicorn server's own proxy-header handling is off.
    trusted_proxies: str = ""

    # Public e-licence verification (电子证照核验): the published keys it trusts (the JSON
    # of `onceonly-workflow elicence public-keys`; in development, the development key's),
    # and its own limit per client address. Without keys it answers 503.
    elicence_public_keys_file: str = ""
    elicence_verification_rate_per_minute: float = Field(default=30.0, gt=0)
    elicence_verification_burst: int = Field(default=10, ge=1)

    # The relay: rows per transaction, how often it looks without a NOTIFY, how long a
    # batch may wait for the broker, and the ceiling of its back-off while Kafka is down.
    relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_publish_timeout_seconds: float = Field(default=30.0, gt=0)
    relay_max_backoff_seconds: float = Field(default=30.0, gt=0)
    # Published outbox rows are kept this long (for audits and replays), then deleted.
    outbox_retention_hours: float = Field(default=72.0, gt=0)
    # The relay has no HTTP API: its Prometheus metrics (and the approval follower's
    # consumer lag) on intake_host at this port; 0: none. Off by default, since tests start
    # relays beside a running system; deploy/local/env and docker-compose set 8101.
    relay_metrics_port: int = Field(default=0, ge=0, le=65535)

    def _check_key_formats(self) -> None:
        super()._check_key_formats()
        self.elicence_public_keys()  # an unreadable or malformed file refuses to start

    def elicence_public_keys(self) -> PublishedKeys | None:
        """The keys e-licences verify against; None: not configured."""
        if self.elicence_public_keys_file:
            variable = env_name(type(self), "elicence_public_keys_file")
            text = read_secret_file(self.elicence_public_keys_file, variable=variable)
            try:
                return PublishedKeys.from_json(json.loads(text))
            except ValueError:
                raise SettingsRefused(f"{variable}: not a published keys document") from None
        if development_refusal(self) is None:
            # Trusting the published development key is as unsafe as signing with it.
            return SigningKeys.parse(DEVELOPMENT_ELICENCE_SIGNING_KEYS, setting="dev").published()
        return None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_proxies(value)  # a ValueError names the bad entry
        return value

    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_proxies(self.trusted_proxies)

    def lockout_rule(self) -> LockoutRule:
        return LockoutRule(
            max_failures=self.progress_lockout_failures,
            window=timedelta(seconds=self.progress_lockout_window_seconds),
            lock=timedelta(seconds=self.progress_lockout_seconds),
        )

    @property
    def approvals_consumer_group(self) -> str:
        """The Kafka consumer group of the approval follower (one per deployment)."""
        return f"{self.topic_prefix}.intake-approvals"

    @property
    def relay_max_silence_seconds(self) -> float:
        """How old the relay's heartbeat may be before /health reports it."""
        return 3 * self.heartbeat_seconds
