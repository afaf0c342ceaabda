"""Settings of the workflow worker, bridge and department API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from onceonly.catalogue import is_department
from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.elicence_signatures import PublishedKeys, SigningKeys
from onceonly.platform.secrets import (
    DEVELOPMENT_ELICENCE_SIGNING_KEYS,
    DEVELOPMENT_REGISTRY_KEY,
    SettingsRefused,
    env_name,
    read_secret_file,
)
from onceonly.platform.settings import PlatformSettings
from onceonly.workflow.case_clocks import (
    DEFAULT_CASE_LEVELS,
    CaseLevel,
    RectificationLimit,
    case_levels,
)
from onceonly.workflow.shared import SupervisionPolicy
from onceonly.workflow.work_order_clocks import LimitOverrides, validate_overrides


class ELicenceSigningSettings(PlatformSettings):
    """The e-licence signing keys alone: what `onceonly-workflow elicence public-keys` and
    `qr` need, without the rest of the workflow's secrets."""

    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("elicence_signing_keys",)
    DEVELOPMENT_KEYS: ClassVar[Mapping[str, str]] = {
        "elicence_signing_keys": DEVELOPMENT_ELICENCE_SIGNING_KEYS,
    }

    # Signs e-licences: `key_id:base64(Ed25519 private key, 32 bytes)`, comma-separated;
    # the first signs, every one is published (docs/security.md, "E-licence keys").
    elicence_signing_keys: SecretStr = SecretStr("")
    # Public keys of retired signing keys (a published-keys JSON file): licences they
    # signed stay verifiable after their private key has left the ring.
    elicence_retired_public_keys_file: str = ""
    # Put in front of the token in the QR code (`<url>?t=<token>`), e.g.
    # `https://zwfw.example.gov.cn/v1/elicences/verification`; empty: the bare token.
    elicence_verification_url: str = ""

    def _check_key_formats(self) -> None:
        super()._check_key_formats()
        spec = self.elicence_signing_keys.get_secret_value()
        if spec:
            SigningKeys.parse(spec, setting=env_name(type(self), "elicence_signing_keys"))
        if self.elicence_retired_public_keys_file:
            self.retired_elicence_keys()

    def elicence_keys(self) -> SigningKeys:
        return SigningKeys.parse(
            self.elicence_signing_keys.get_secret_value(),
            setting=env_name(type(self), "elicence_signing_keys"),
        )

    def retired_elicence_keys(self) -> PublishedKeys | None:
        """The retired keys' published document, if one is configured."""
        if not self.elicence_retired_public_keys_file:
            return None
        variable = env_name(type(self), "elicence_retired_public_keys_file")
        text = read_secret_file(self.elicence_retired_public_keys_file, variable=variable)
        try:
            return PublishedKeys.from_json(json.loads(text))
        except ValueError:
            raise SettingsRefused(f"{variable}: not a published keys document") from None

    def published_elicence_keys(self) -> PublishedKeys:
        """What verifiers trust: the ring's public keys and the retired ones."""
        return self.elicence_keys().published(also=self.retired_elicence_keys())


class WorkflowSettings(ELicenceSigningSettings):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = (
        "pii_keys",
        "department_api_token_keys",
        "registry_lookup_key",
        "elicence_signing_keys",
    )
    LISTEN_HOSTS: ClassVar[tuple[str, ...]] = ("workflow_api_host",)
    DEVELOPMENT_KEYS: ClassVar[Mapping[str, str]] = {
        **PlatformSettings.DEVELOPMENT_KEYS,
        "registry_lookup_key": DEVELOPMENT_REGISTRY_KEY,
        "elicence_signing_keys": DEVELOPMENT_ELICENCE_SIGNING_KEYS,
    }

    workflow_api_host: str = "127.0.0.1"
    workflow_api_port: int = 8001
    # Bodies are decisions and small forms; larger ones are refused (413) before the token
    # is read. Reads (GET) per staff member and API process: sustained rate and burst.
    workflow_api_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    workflow_api_staff_read_rate_per_second: float = Field(default=5.0, gt=0)
    workflow_api_staff_read_burst: int = Field(default=30, ge=1)
    # Temporal visibility is eventually consistent; the task list reads at most this many.
    task_list_limit: int = 200
    # The bridge starts up to this many workflows at once (of different applications:
    # one application's events stay in order). One at a time, each start waits a round
    # trip to Temporal and its persistence, which bounds the start rate.
    bridge_concurrency: int = Field(default=32, ge=1, le=1000)
    # Long polls the worker keeps open for workflow and activity tasks (the SDK's
    # default, 5). 16 and 8 did not shorten the end-to-end latency at 20 applications/s
    # (bench, 2026-12-02): the waits were Temporal's, not the worker's.
    worker_workflow_task_polls: int = Field(default=5, ge=2, le=200)
    # Workflows the worker keeps in memory. Approvals stay open for days and wake on
    # timers (yellow, red, escalation) and decisions: one that was evicted is replayed
    # from its whole history first. Size it to the open applications (SDK default 1000).
    # Each cached application costs the worker about 170 KiB of resident memory
    # (bench.worker_cpu --open 2000: 168.5 KiB per application open in approval), so
    # 10,000 need an estimated 1.6 GiB beyond the worker's ~165 MiB: raise it together
    # with the worker's memory limit (deploy/helm: 1 GiB).
    worker_max_cached_workflows: int = Field(default=1000, ge=0, le=1_000_000)
    # Run workflow code in Temporal's sandbox (each run in a fresh module state, checked for
    # non-deterministic calls). Off by default: in the worker it cost about a fifth of the
    # CPU of an application (bench.worker_cpu). Non-determinism is caught by the tests
    # instead: their workers (build_worker without settings) and the replay of recorded
    # histories run sandboxed (docs/decisions/0007-unsandboxed-worker.md).
    worker_sandbox: bool = False
    worker_activity_task_polls: int = Field(default=5, ge=1, le=200)
    # Prometheus endpoints of the processes without an HTTP API, on workflow_api_host; 0:
    # none. The worker has two: its own (Python) metrics, and the Temporal SDK's (served by
    # the SDK's core runtime). Off by default, since tests start workers and bridges beside
    # a running system; deploy/local/env and docker-compose set 8102, 8103 and 8104.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_temporal_metrics_port: int = Field(default=0, ge=0, le=65535)
    bridge_metrics_port: int = Field(default=0, ge=0, le=65535)
    # E-supervision (电子监察): given to each new application's workflow at its start.
    supervision_yellow_share: float = 0.8
    supervision_yellow_days_left: int = 1
    supervision_escalation_hours: int = 24
    supervision_max_escalations: int = 30
    # Operators drop the State Council's yearly notice here (YYYY.yaml); see
    # libs/catalogue/src/onceonly/catalogue/data/calendar/README.md.
    calendar_dir: str = ""
    # Supervision cases (督办件): the levels a case climbs, in order, each with the working
    # days its addressee has to obtain the department's written response (JSON), e.g.
    # [{"addressee": "department_head", "response_days": 3},
    #  {"addressee": "supervision_office", "response_days": 5}]; empty: that default.
    supervision_case_levels: str = ""
    # Rectification of bad ratings (差评整改): working days to answer, and the share of
    # them after which the department is warned (yellow).
    rectification_days: int = Field(default=15, ge=1, le=60)
    rectification_yellow_share: float = Field(default=0.8, gt=0, lt=1)
    # 12345 work order limits per region and kind, over the defaults of
    # work_order_clocks (JSON), e.g. {"330100": {"complaint": {"reply_days": 3}}}.
    work_order_limits: str = ""
    # Keys the base registry's rows (HMAC of the identifier): its own key, so that no
    # other key's rotation orphans the registry. Empty: not configured.
    registry_lookup_key: SecretStr = SecretStr("")

    def staff_tokens(self) -> StaffTokens:
        """How the department API checks staff tokens (its own audience and keys)."""
        return StaffTokens.from_settings(self, StaffApi.DEPARTMENT, known_department=is_department)

    def registry_hmac_key(self) -> bytes:
        return self.registry_lookup_key.get_secret_value().encode()

    def work_order_limit_overrides(self) -> LimitOverrides:
        """The work order limits table (ValueError if malformed; checked at start)."""
        if not self.work_order_limits:
            return {}
        return validate_overrides(json.loads(self.work_order_limits))

    @field_validator("supervision_case_levels")
    @classmethod
    def _case_levels_valid(cls, value: str) -> str:
        if value:
            case_levels(value)  # ValueError names what is wrong
        return value

    def case_levels(self) -> tuple[CaseLevel, ...]:
        """The levels of a supervision case (validated with the settings)."""
        if not self.supervision_case_levels:
            return DEFAULT_CASE_LEVELS
        return case_levels(self.supervision_case_levels)

    def rectification_limit(self) -> RectificationLimit:
        return RectificationLimit(
            days=self.rectification_days, yellow_share=self.rectification_yellow_share
        )

    def supervision_policy(self) -> SupervisionPolicy:
        return SupervisionPolicy(
            yellow_share=self.supervision_yellow_share,
            yellow_days_left=self.supervision_yellow_days_left,
            escalation_hours=self.supervision_escalation_hours,
            max_escalations=self.supervision_max_escalations,
        )
