"""Settings shared by every process; each service subclasses `PlatformSettings`.

Secrets fail closed: a process refuses to start without the keys it needs, or with a
published development key, unless `ONCEONLY_ENVIRONMENT=development` is set explicitly
and every address it listens on is a loopback one (`development_refusal`); then a key
left unset is the development one. Start processes with `load_settings`, which turns a
refusal into one line naming the variable, without a stack trace.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable, Mapping
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from onceonly.platform import kafka_connection
from onceonly.platform.kafka_connection import (
    KafkaSecurity,
    SaslMechanism,
    SecurityProtocol,
    TopicLayout,
)
from onceonly.platform.oidc import OidcSettings
from onceonly.platform.secrets import (
    DEVELOPMENT_DEPARTMENT_API_TOKEN_KEYS,
    DEVELOPMENT_NOTIFY_API_TOKEN_KEYS,
    DEVELOPMENT_PII_KEY,
    DEVELOPMENT_SECRET,
    DEVELOPMENT_TRACKING_API_TOKEN_KEYS,
    FILE_SUFFIX,
    FileSecretsSource,
    KeyRing,
    SettingsRefused,
    env_name,
    holds_development_key,
    secret_fields,
)

__all__ = [
    "DEVELOPMENT_PII_KEY",
    "DEVELOPMENT_SECRET",
    "PlatformSettings",
    "SettingsRefused",
    "development_refusal",
    "is_loopback",
    "load_settings",
]

Environment = Literal["development", "test", "staging", "production"]
S = TypeVar("S", bound="PlatformSettings")


class PlatformSettings(BaseSettings):
    """Connection and security settings, read from `ONCEONLY_*` environment variables
    (a secret one also from the file that `ONCEONLY_<NAME>_FILE` names)."""

    # A refusal's message never repeats the values given (secrets among them).
    model_config = SettingsConfigDict(
        env_prefix="ONCEONLY_", extra="ignore", hide_input_in_errors=True
    )

    # What a service declares: the secrets it cannot run without, the settings naming the
    # addresses it listens on, and the development value of each secret it may use.
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ()
    LISTEN_HOSTS: ClassVar[tuple[str, ...]] = ()
    DEVELOPMENT_KEYS: ClassVar[Mapping[str, str]] = {
        "pii_keys": DEVELOPMENT_PII_KEY,
        "department_api_token_keys": DEVELOPMENT_DEPARTMENT_API_TOKEN_KEYS,
        "tracking_api_token_keys": DEVELOPMENT_TRACKING_API_TOKEN_KEYS,
        "notify_api_token_keys": DEVELOPMENT_NOTIFY_API_TOKEN_KEYS,
    }
    # Settings that are not `SecretStr` but may come from a file too (a password inside).
    FILE_SETTINGS: ClassVar[tuple[str, ...]] = ("database_url",)

    # Not set: neither development nor anything else that could use development keys.
    environment: Environment | None = None
    database_url: str = "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly"
    database_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "onceonly"
    # Every Kafka client's security (onceonly.platform.kafka_connection): TLS with the
    # brokers' CA (and a client certificate for mutual TLS), SASL SCRAM or PLAIN.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_ca_file: str = ""
    kafka_ssl_cert_file: str = ""
    kafka_ssl_key_file: str = ""
    # The topics the processes create when missing: a cluster of three brokers wants
    # replication factor 3 and min.insync.replicas 2 (a write survives one broker lost).
    kafka_partitions: int = Field(default=3, ge=1, le=1000)
    kafka_replication_factor: int = Field(default=1, ge=1, le=15)
    kafka_min_insync_replicas: int = Field(default=1, ge=1, le=15)
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "joint-approval"
    # TLS to the Temporal frontend (a cluster's, or Temporal Cloud's): the server's CA
    # (system CAs when empty), this client's certificate and key for mutual TLS, and the
    # name its certificate carries when it is not the address's host.
    temporal_tls: bool = False
    temporal_tls_ca_file: str = ""
    temporal_tls_cert_file: str = ""
    temporal_tls_key_file: str = ""
    temporal_tls_server_name: str = ""
    # The staff APIs' connections (department, tracking, notify; onceonly.platform.limits):
    # request line and headers must arrive within this long, each chunk of a body within
    # api_body_read_seconds (408), and an idle keep-alive connection is closed after this.
    api_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    api_body_read_seconds: float = Field(default=10.0, gt=0, le=300)
    api_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    # Secrets, one per purpose; empty: not configured. Key rings are comma-separated
    # `key_id:secret`, the first one signs or seals, every one verifies or opens.
    # Personal data (AES-GCM): `key_id:base64(32 bytes)`.
    pii_keys: SecretStr = SecretStr("")
    # Staff tokens of each API (HMAC, at least 32 bytes each): the department API of the
    # workflow, the tracking API, notify's staff API.
    department_api_token_keys: SecretStr = SecretStr("")
    tracking_api_token_keys: SecretStr = SecretStr("")
    notify_api_token_keys: SecretStr = SecretStr("")
    # Staff tokens valid for longer than this (from issue to expiry) are refused.
    staff_token_max_hours: float = Field(default=12.0, gt=0, le=24 * 7)
    # The single sign-on provider (OIDC) whose RS256/ES256 tokens every staff API accepts
    # beside its local ones (onceonly.platform.oidc); none while the issuer is empty.
    staff_oidc_issuer: str = ""
    staff_oidc_audience: str = ""
    staff_oidc_jwks_url: str = ""
    staff_oidc_algorithms: str = "RS256,ES256"
    # Where the staff id, roles, department and division are in the provider's tokens (a dotted
    # path reaches into objects, e.g. realm_access.roles).
    staff_oidc_staff_id_claim: str = "sub"
    staff_oidc_roles_claim: str = "roles"
    staff_oidc_department_claim: str = "department"
    # The staff member's division (region scope); absent from a token: the whole province.
    staff_oidc_region_claim: str = "region"
    log_level: str = "INFO"
    heartbeat_seconds: float = 2.0
    # How often an API refreshes the gauges it computes (consumer lag, backlogs, counts).
    metrics_refresh_seconds: float = 5.0
    # How long a consumer's event may wait for what it needs first (its application's
    # submission, its cause) before it is parked on the dead-letter topic, and how often
    # waiting events are tried again (onceonly.platform.deferral).
    deferral_max_wait_seconds: float = Field(default=3600.0, gt=0)
    deferral_sweep_seconds: float = Field(default=5.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            FileSecretsSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @model_validator(mode="after")
    def _fail_closed(self) -> PlatformSettings:
        refusal = development_refusal(self)
        problems = []
        for name in _secret_strings(type(self)):
            variable = env_name(type(self), name)
            value = getattr(self, name).get_secret_value()
            if not value:
                if refusal is None and name in self.DEVELOPMENT_KEYS:
                    setattr(self, name, SecretStr(self.DEVELOPMENT_KEYS[name]))
                elif name in self.REQUIRED_SECRETS:
                    problems.append(f"{variable} (or {variable}{FILE_SUFFIX}) is not set")
            elif refusal is not None and holds_development_key(value):
                problems.append(f"{variable} is a published development key")
        if problems:
            raise SettingsRefused(
                "; ".join(problems) + "; development keys are for "
                f"ONCEONLY_ENVIRONMENT=development on a loopback address only (here: {refusal})"
            )
        self._check_key_formats()
        kafka = self.kafka_security().problems() + self.topic_layout().problems()
        if bool(self.temporal_tls_cert_file) != bool(self.temporal_tls_key_file):
            raise SettingsRefused(
                "Temporal: a client certificate needs its key, and a key its certificate"
            )
        if not self.temporal_tls and (
            self.temporal_tls_ca_file
            or self.temporal_tls_cert_file
            or self.temporal_tls_server_name
        ):
            raise SettingsRefused("Temporal: TLS files are set but ONCEONLY_TEMPORAL_TLS is not")
        if kafka:
            raise SettingsRefused("Kafka: " + "; ".join(kafka))
        oidc = self.staff_oidc()
        sign_on = oidc.problems(development=refusal is None) if oidc else []
        if not oidc and (self.staff_oidc_audience or self.staff_oidc_jwks_url):
            sign_on = ["the issuer is not set"]
        if sign_on:
            raise SettingsRefused("ONCEONLY_STAFF_OIDC_*: " + "; ".join(sign_on))
        return self

    def staff_oidc(self) -> OidcSettings | None:
        """The sign-on provider, if one is configured (checked when settings load)."""
        if not self.staff_oidc_issuer:
            return None
        return OidcSettings(
            issuer=self.staff_oidc_issuer,
            audience=self.staff_oidc_audience,
            jwks_url=self.staff_oidc_jwks_url,
            algorithms=tuple(a.strip() for a in self.staff_oidc_algorithms.split(",") if a.strip()),
            staff_id_claim=self.staff_oidc_staff_id_claim,
            roles_claim=self.staff_oidc_roles_claim,
            department_claim=self.staff_oidc_department_claim,
            region_claim=self.staff_oidc_region_claim,
        )

    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            ca_file=self.kafka_ssl_ca_file,
            cert_file=self.kafka_ssl_cert_file,
            key_file=self.kafka_ssl_key_file,
        )

    def topic_layout(self) -> TopicLayout:
        return TopicLayout(
            partitions=self.kafka_partitions,
            replication_factor=self.kafka_replication_factor,
            min_insync_replicas=self.kafka_min_insync_replicas,
        )

    def _check_key_formats(self) -> None:
        from onceonly.platform.pii import PiiSealer  # imports the generated protobufs

        pii = self.pii_keys.get_secret_value()
        if pii:
            try:
                PiiSealer(pii)
            except ValueError:
                variable = env_name(type(self), "pii_keys")
                raise SettingsRefused(
                    f"{variable}: each key must be `key_id:base64(32 bytes)`"
                ) from None
        for name in (
            "department_api_token_keys",
            "tracking_api_token_keys",
            "notify_api_token_keys",
        ):
            spec = getattr(self, name).get_secret_value()
            if spec:
                KeyRing.parse(spec, setting=env_name(type(self), name))


def _secret_strings(settings_cls: type[PlatformSettings]) -> tuple[str, ...]:
    fields = settings_cls.model_fields
    return tuple(
        name for name in secret_fields(settings_cls) if fields[name].annotation is SecretStr
    )


def development_refusal(settings: PlatformSettings) -> str | None:
    """None when development keys and switches are allowed: `ONCEONLY_ENVIRONMENT=
    development` set explicitly (not defaulted) and every address the process listens on
    a loopback one. Otherwise why not, naming the setting."""
    if "environment" not in settings.model_fields_set or settings.environment is None:
        return "ONCEONLY_ENVIRONMENT is not set"
    if settings.environment != "development":
        return f"ONCEONLY_ENVIRONMENT={settings.environment}"
    for name in settings.LISTEN_HOSTS:
        host = str(getattr(settings, name))
        if not is_loopback(host):
            return f"{env_name(type(settings), name)}={host} is not a loopback address"
    return None


def is_loopback(host: str) -> bool:
    """`localhost`, `127.0.0.0/8` or `::1`; not `0.0.0.0`, `::` or a name."""
    text = host.strip().strip("[]").lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def load_settings(factory: Callable[[], S]) -> S:
    """The process's settings, or exit with one line saying which setting is wrong (no
    stack trace, and never a secret's value)."""
    try:
        settings = factory()
    except SettingsRefused as exc:
        raise SystemExit(_refusal_line(str(exc))) from None
    except ValidationError as exc:
        raise SystemExit(_refusal_line(_one_line(factory, exc))) from None
    # Every Kafka client this process builds connects and creates topics as configured
    # (a factory may build something else from the settings, e.g. staff token keys).
    if isinstance(settings, PlatformSettings):
        kafka_connection.use(settings.kafka_security(), settings.topic_layout())
    return settings


def _refusal_line(reason: str) -> str:
    program = os.path.basename(sys.argv[0]) or "onceonly"
    return f"{program}: refusing to start: {reason}"


def _one_line(factory: Callable[[], PlatformSettings], exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            field = str(error["loc"][0])
            variable = (
                env_name(factory, field)
                if isinstance(factory, type) and issubclass(factory, BaseSettings)
                else f"ONCEONLY_{field}".upper()
            )
            message = f"{variable}: {message}"
        parts.append(message)
    return "; ".join(parts)
