"""`onceonly-workflow elicence`: the published keys, the QR code, and the offline verifier
(genuine, revoked only with a revocation list, and it says so; unknown for a changed byte)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.secrets import DEVELOPMENT_ELICENCE_SIGNING_KEYS
from onceonly.workflow.cli import app

DEVELOPMENT = {"ONCEONLY_ENVIRONMENT": "development"}
KEYS = SigningKeys.parse(DEVELOPMENT_ELICENCE_SIGNING_KEYS, setting="test")
NUMBER = "EL-330100-20261204-0004276"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ONCEONLY_"):
            monkeypatch.delenv(name)


def signed(valid_days: int = 30) -> str:
    now = datetime.now(UTC)
    return KEYS.sign(
        KEYS.payload_for(
            number=NUMBER,
            licence_type="business-licence",
            holder_masked="9133**************",
            issuer_region="330100",
            issued_at=now,
            valid_until=now + timedelta(days=valid_days),
        )
    )


def test_published_keys_qr_and_offline_verification(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = tmp_path / "keys.json"
    exported = runner.invoke(app, ["elicence", "public-keys", "--out", str(keys)], env=DEVELOPMENT)
    assert exported.exit_code == 0, exported.output
    assert json.loads(keys.read_text()) == KEYS.published().to_json()

    token = signed()
    url = "https://gov.example/v1/elicences/verification"
    qr = runner.invoke(
        app,
        [
            "elicence",
            "qr",
            token,
            "--png",
            str(tmp_path / "l.png"),
            "--svg",
            str(tmp_path / "l.svg"),
        ],
        env={**DEVELOPMENT, "ONCEONLY_ELICENCE_VERIFICATION_URL": url},
    )
    assert qr.exit_code == 0, qr.output
    assert qr.stdout.strip() == f"{url}?t={token}"
    assert (tmp_path / "l.png").read_bytes().startswith(b"\x89PNG")

    genuine = runner.invoke(app, ["elicence", "verify", qr.stdout.strip(), "--keys", str(keys)])
    assert genuine.exit_code == 0, genuine.output
    body = json.loads(genuine.stdout)
    assert (body["outcome"], body["licence"]["number"]) == ("genuine", NUMBER)
    assert "revocations are not known" in body["revocations"]

    revoked_list = tmp_path / "revoked.txt"
    revoked_list.write_text(f"{NUMBER}\n")
    revoked = runner.invoke(
        app, ["elicence", "verify", token, "--keys", str(keys), "--revoked", str(revoked_list)]
    )
    assert revoked.exit_code == 1
    assert json.loads(revoked.stdout)["outcome"] == "revoked"

    expired = runner.invoke(app, ["elicence", "verify", signed(-1), "--keys", str(keys)])
    assert (expired.exit_code, json.loads(expired.stdout)["outcome"]) == (1, "expired")

    changed = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    tampered = runner.invoke(app, ["elicence", "verify", changed, "--keys", str(keys)])
    assert tampered.exit_code == 1
    assert json.loads(tampered.stdout)["outcome"] == "unknown"
    assert json.loads(tampered.stdout)["licence"] is None


def test_the_signing_key_fails_closed() -> None:
    runner = CliRunner()
    staging = runner.invoke(
        app, ["elicence", "public-keys"], env={"ONCEONLY_ENVIRONMENT": "staging"}
    )
    assert staging.exit_code != 0
    assert "ONCEONLY_ELICENCE_SIGNING_KEYS (or ONCEONLY_ELICENCE_SIGNING_KEYS_FILE) is not set" in (
        staging.output
    )
    published_dev_key = runner.invoke(
        app,
        ["elicence", "public-keys"],
        env={
            "ONCEONLY_ENVIRONMENT": "production",
            "ONCEONLY_ELICENCE_SIGNING_KEYS": DEVELOPMENT_ELICENCE_SIGNING_KEYS,
        },
    )
    assert published_dev_key.exit_code != 0
    assert "is a published development key" in published_dev_key.output
    malformed = runner.invoke(
        app,
        ["elicence", "public-keys"],
        env={"ONCEONLY_ENVIRONMENT": "production", "ONCEONLY_ELICENCE_SIGNING_KEYS": "k1:c2hvcnQ="},
    )
    assert malformed.exit_code != 0
    assert (
        "c2hvcnQ" not in malformed.output and "ONCEONLY_ELICENCE_SIGNING_KEYS" in malformed.output
    )


def test_retired_keys_stay_published_after_their_private_key_left_the_ring(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    old = tmp_path / "old.json"
    before = runner.invoke(app, ["elicence", "public-keys", "--out", str(old)], env=DEVELOPMENT)
    assert before.exit_code == 0, before.output
    token = signed()  # signed by the development key, about to be retired
    new_ring = "k2027:" + base64.b64encode(os.urandom(32)).decode()
    env = {
        **DEVELOPMENT,
        "ONCEONLY_ELICENCE_SIGNING_KEYS": new_ring,
        "ONCEONLY_ELICENCE_RETIRED_PUBLIC_KEYS_FILE": str(old),
    }
    now = tmp_path / "now.json"
    exported = runner.invoke(app, ["elicence", "public-keys", "--out", str(now)], env=env)
    assert exported.exit_code == 0, exported.output
    assert [k["kid"] for k in json.loads(now.read_text())["keys"]] == ["dev-elicence", "k2027"]
    old_licence = runner.invoke(app, ["elicence", "verify", token, "--keys", str(now)])
    assert json.loads(old_licence.stdout)["outcome"] == "genuine"
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    refused = runner.invoke(
        app,
        ["elicence", "public-keys"],
        env={**env, "ONCEONLY_ELICENCE_RETIRED_PUBLIC_KEYS_FILE": str(broken)},
    )
    assert refused.exit_code != 0
    assert "ONCEONLY_ELICENCE_RETIRED_PUBLIC_KEYS_FILE: not a published keys document" in (
        refused.output
    )
