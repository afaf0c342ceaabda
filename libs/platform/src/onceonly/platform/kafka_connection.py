"""How this process reaches Kafka: the security of every client (TLS, SASL) and the layout
of the topics it creates (partitions, replication factor, `min.insync.replicas`).

Both are settings of the process (`PlatformSettings.kafka_*`), set once by `use` when the
settings load, and read by every client the platform builds (producers, consumers, admin
clients, faust's broker credentials), so a cluster with TLS and three replicas needs no
code change. Without settings: PLAINTEXT, 3 partitions, one replica, as the local broker.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: str = ""
    # PEM files: the brokers' CA, and this client's certificate and key for mutual TLS.
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def problems(self) -> list[str]:
        """What is missing for the protocol chosen (empty when usable)."""
        found = []
        if self.protocol.startswith("SASL") and not (self.username and self.password):
            found.append(f"{self.protocol} needs a SASL username and password")
        if bool(self.cert_file) != bool(self.key_file):
            found.append("a client certificate needs its key, and a key its certificate")
        if (self.cert_file or self.ca_file) and not self.uses_tls:
            found.append(f"TLS files are set but the protocol is {self.protocol}")
        return found

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        # Verifies the brokers' certificates and host names (system CAs unless ca_file).
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (producer, consumer, admin)."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.protocol.startswith("SASL"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return options

    def faust_credentials(self) -> Any:
        """faust's `broker_credentials` (None: plaintext)."""
        if self.protocol == "PLAINTEXT":
            return None
        import faust  # only the tracking agent has faust
        from faust.types.auth import SASLMechanism

        if self.protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context())
        mechanism = SASLMechanism(self.sasl_mechanism)
        return faust.SASLCredentials(
            username=self.username,
            password=self.password,
            ssl_context=self.ssl_context(),
            mechanism=mechanism,
        )


@dataclass(frozen=True, slots=True)
class TopicLayout:
    partitions: int = 3
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def problems(self) -> list[str]:
        found = []
        if self.partitions < 1 or self.replication_factor < 1 or self.min_insync_replicas < 1:
            found.append("partitions, replication factor and min.insync.replicas must be >= 1")
        if self.min_insync_replicas > self.replication_factor:
            found.append(
                f"min.insync.replicas ({self.min_insync_replicas}) exceeds the replication"
                f" factor ({self.replication_factor}): no write could ever be acknowledged"
            )
        return found

    def topic_configs(self) -> dict[str, str]:
        # With acks=all, a write is acknowledged once this many replicas hold it.
        return {"min.insync.replicas": str(self.min_insync_replicas)}


_security = KafkaSecurity()
_layout = TopicLayout()


def use(security: KafkaSecurity, layout: TopicLayout) -> None:
    """Set how this process's clients connect and create topics (at settings load)."""
    global _security, _layout
    _security, _layout = security, layout


def security() -> KafkaSecurity:
    return _security


def layout() -> TopicLayout:
    return _layout


def client_options() -> dict[str, Any]:
    return _security.client_options()
