"""Settings of the tracking agent and the tracking API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr

from onceonly.catalogue import is_department
from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.elicence_signatures import PublishedKeys, SigningKeys
from onceonly.platform.secrets import (
    DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS,
    SettingsRefused,
    env_name,
    read_secret_file,
)
from onceonly.platform.settings import PlatformSettings, development_refusal


class TrackingSettings(PlatformSettings):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("tracking_api_token_keys",)
    LISTEN_HOSTS: ClassVar[tuple[str, ...]] = ("tracking_host",)
    DEVELOPMENT_KEYS: ClassVar[Mapping[str, str]] = {
        **PlatformSettings.DEVELOPMENT_KEYS,
        "timeline_checkpoint_signing_keys": DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS,
    }

    tracking_host: str = "127.0.0.1"
    tracking_port: int = 8002
    # As the department API's (workflow_api_max_body_bytes and the staff read limits).
    tracking_max_body_bytes: int = Field(default=16 * 1024, ge=1024)
    tracking_staff_read_rate_per_second: float = Field(default=5.0, gt=0)
    tracking_staff_read_burst: int = Field(default=30, ge=1)
    # The agent's heartbeat may be this old before /health reports it as down.
    tracking_agent_max_silence_seconds: float = 15.0
    # First and largest pause between attempts when Postgres refuses an append.
    tracking_retry_initial_seconds: float = 0.2
    tracking_retry_max_seconds: float = 10.0
    # The agent's web server (faust) for its live counters, on tracking_host; 0: none.
    tracking_agent_port: int = 0
    # The agent's Prometheus metrics on tracking_host; 0: none (the default, since tests
    # start agents beside a running system; deploy/local/env and docker-compose set 8105).
    tracking_agent_metrics_port: int = Field(default=0, ge=0, le=65535)
    # How long Kafka waits for a silent agent (e.g. killed) before handing its
    # partitions to the next one; a restarted agent waits this long at most.
    tracking_agent_session_timeout_seconds: float = 60.0
    # A partition the consumer left idle this long, with records beyond the agent's
    # progress at the log end, is read back by the agent itself (continuity.py).
    tracking_catch_up_idle_seconds: float = 30.0
    # The operators' calendar notices (YYYY.yaml), as for the workflow: the figures count
    # working days on the same calendar as the deadlines.
    calendar_dir: str = ""
    # Where the console links an application's workflow (Temporal's Web UI) and its
    # trace (the trace viewer's UI, Jaeger's search by the application code); none if
    # empty.
    tracking_console_temporal_url: str = ""
    tracking_console_traces_url: str = ""
    # Signs the timeline checkpoints (checkpoint.py): `key_id:base64(Ed25519 private key,
    # 32 bytes)`, comma-separated, the first signs; held by the processes, never by the
    # database. Needed by the agent and `onceonly-tracking checkpoint`.
    timeline_checkpoint_signing_keys: SecretStr = SecretStr("")
    # What verification trusts (a published-keys JSON file, `onceonly-tracking
    # checkpoint-keys`); empty: the public keys of the signing ring above.
    timeline_checkpoint_public_keys_file: str = ""
    # The agent makes a checkpoint once per slot of this many seconds (0: none).
    tracking_checkpoint_seconds: float = Field(default=60.0, ge=0)
    # The leaves of this many latest checkpoints are kept (proofs of older ones cannot
    # be given; their signed roots stay).
    tracking_checkpoint_keep_leaves: int = Field(default=60, ge=2)
    # An agent records up to 200 records of a topic at once, waiting at most this long
    # for more: the latency an event may gain when the topic is quiet, against a
    # transaction and its statements per batch. Longer sets more of the workflow's events
    # aside to wait for their submission, which travels on another topic; 0.2 showed no
    # saving above the noise at 15/s (docs/performance.md).
    tracking_batch_within_seconds: float = Field(default=0.05, gt=0, le=5)

    # The console's sign-in through the single sign-on provider (OIDC authorization code
    # with PKCE; console_sign_on.py): its authorization and token endpoints, this
    # console's client id (and secret, for a confidential client) and the callback URL
    # registered with it (…/v1/session/oidc/callback). Off while the authorization URL is
    # empty; the provider's tokens are checked with the ONCEONLY_STAFF_OIDC_* settings.
    tracking_console_oidc_authorization_url: str = ""
    tracking_console_oidc_token_url: str = ""
    tracking_console_oidc_client_id: str = ""
    tracking_console_oidc_client_secret: SecretStr = SecretStr("")
    tracking_console_oidc_redirect_url: str = ""

    def console_sign_on_problems(self) -> list[str]:
        """What keeps the console's single sign-on from working (empty: fine or off)."""
        if not self.tracking_console_oidc_authorization_url:
            return []
        found = []
        if self.staff_oidc() is None:
            found.append("the provider's tokens cannot be checked: ONCEONLY_STAFF_OIDC_* unset")
        urls = (
            self.tracking_console_oidc_authorization_url,
            self.tracking_console_oidc_token_url,
            self.tracking_console_oidc_redirect_url,
        )
        if not (all(urls) and self.tracking_console_oidc_client_id):
            found.append("the authorization, token and redirect URLs and the client id")
        plain = [u for u in urls if u and not u.startswith("https://")]
        if plain and development_refusal(self) is not None:
            found.append("its URLs must be https outside development")
        return found

    def _check_key_formats(self) -> None:
        super()._check_key_formats()
        if problems := self.console_sign_on_problems():
            raise SettingsRefused("ONCEONLY_TRACKING_CONSOLE_OIDC_*: " + "; ".join(problems))
        if self.timeline_checkpoint_signing_keys.get_secret_value():
            self.checkpoint_signing_keys()
        if self.timeline_checkpoint_public_keys_file:
            self.checkpoint_public_keys()

    def checkpoint_signing_keys(self) -> SigningKeys:
        """The checkpoint signing ring; SettingsRefused when it is not set."""
        variable = env_name(type(self), "timeline_checkpoint_signing_keys")
        spec = self.timeline_checkpoint_signing_keys.get_secret_value()
        if not spec:
            raise SettingsRefused(f"{variable} (or {variable}_FILE) is not set")
        return SigningKeys.parse(spec, setting=variable)

    def checkpoint_public_keys(self) -> PublishedKeys | None:
        """What verification trusts: the published keys file, else the ring's public
        keys, else None (checkpoints cannot be checked)."""
        if self.timeline_checkpoint_public_keys_file:
            variable = env_name(type(self), "timeline_checkpoint_public_keys_file")
            text = read_secret_file(self.timeline_checkpoint_public_keys_file, variable=variable)
            try:
                return PublishedKeys.from_json(json.loads(text))
            except ValueError:
                raise SettingsRefused(f"{variable}: not a published keys document") from None
        if self.timeline_checkpoint_signing_keys.get_secret_value():
            return self.checkpoint_signing_keys().published()
        return None

    def staff_tokens(self) -> StaffTokens:
        """How the tracking API checks staff tokens (its own audience and keys)."""
        return StaffTokens.from_settings(self, StaffApi.TRACKING, known_department=is_department)
