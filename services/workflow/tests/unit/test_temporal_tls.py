"""TLS to Temporal's frontend as the settings say: plaintext for the dev server, the CA,
client certificate and server name read from their files for a cluster."""

from __future__ import annotations

from pathlib import Path

from temporalio.service import TLSConfig

from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.temporal import tls_config


def test_plaintext_unless_tls_is_set() -> None:
    assert tls_config(WorkflowSettings(environment="development")) is False


def test_mutual_tls_reads_the_files(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_bytes(f"-----{path.name}-----".encode())
    settings = WorkflowSettings(
        environment="development",
        temporal_tls=True,
        temporal_tls_ca_file=str(ca),
        temporal_tls_cert_file=str(cert),
        temporal_tls_key_file=str(key),
        temporal_tls_server_name="temporal.frontend.internal",
    )
    config = tls_config(settings)
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == b"-----ca.pem-----"
    assert config.client_cert == b"-----client.pem-----"
    assert config.client_private_key == b"-----client.key-----"
    assert config.domain == "temporal.frontend.internal"


def test_tls_with_the_system_cas(tmp_path: Path) -> None:
    config = tls_config(WorkflowSettings(environment="development", temporal_tls=True))
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert is None and config.client_cert is None
