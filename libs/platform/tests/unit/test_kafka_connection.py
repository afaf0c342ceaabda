"""Kafka's security and topic layout are settings: a protocol without what it needs, or a
layout no write could satisfy, refuses to start; every client gets the same options."""

from __future__ import annotations

import os
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from onceonly.platform import kafka_connection
from onceonly.platform.kafka_connection import KafkaSecurity, TopicLayout
from onceonly.platform.settings import PlatformSettings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ONCEONLY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ONCEONLY_ENVIRONMENT", "development")
    yield
    kafka_connection.use(KafkaSecurity(), TopicLayout())


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onceonly-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_plaintext_by_default_adds_no_client_options() -> None:
    settings = load_settings(PlatformSettings)
    assert settings.kafka_security() == KafkaSecurity()
    assert kafka_connection.client_options() == {}
    assert kafka_connection.layout() == TopicLayout(3, 1, 1)


def test_sasl_ssl_with_mutual_tls_reaches_every_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file = self_signed(tmp_path)
    password_file = tmp_path / "kafka-password"
    password_file.write_text("s3cret-from-a-file\n")
    for name, value in {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": "onceonly-intake",
        "KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "KAFKA_SSL_CA_FILE": str(cert_file),
        "KAFKA_SSL_CERT_FILE": str(cert_file),
        "KAFKA_SSL_KEY_FILE": str(key_file),
        "KAFKA_REPLICATION_FACTOR": "3",
        "KAFKA_MIN_INSYNC_REPLICAS": "2",
        "KAFKA_PARTITIONS": "12",
    }.items():
        monkeypatch.setenv(f"ONCEONLY_{name}", value)
    load_settings(PlatformSettings)

    options = kafka_connection.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "onceonly-intake"
    assert options["sasl_plain_password"] == "s3cret-from-a-file"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert kafka_connection.layout().topic_configs() == {"min.insync.replicas": "2"}
    assert kafka_connection.layout().partitions == 12

    credentials = kafka_connection.security().faust_credentials()
    assert credentials.username == "onceonly-intake"
    assert credentials.mechanism.value == "SCRAM-SHA-256"


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs a SASL username and password"),
        ({"KAFKA_SSL_CERT_FILE": "/x.pem", "KAFKA_SECURITY_PROTOCOL": "SSL"}, "needs its key"),
        ({"KAFKA_SSL_CA_FILE": "/ca.pem"}, "the protocol is PLAINTEXT"),
        ({"KAFKA_MIN_INSYNC_REPLICAS": "2"}, "exceeds the replication factor"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "ONCEONLY_KAFKA_SECURITY_PROTOCOL"),
        ({"TEMPORAL_TLS": "true", "TEMPORAL_TLS_CERT_FILE": "/c.pem"}, "needs its key"),
        ({"TEMPORAL_TLS_CA_FILE": "/ca.pem"}, "ONCEONLY_TEMPORAL_TLS is not"),
    ],
)
def test_a_connection_setting_that_cannot_work_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], said: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(f"ONCEONLY_{name}", value)
    with pytest.raises(SystemExit) as refused:
        load_settings(PlatformSettings)
    assert said in str(refused.value)
    assert kafka_connection.client_options() == {}  # nothing half-applied
