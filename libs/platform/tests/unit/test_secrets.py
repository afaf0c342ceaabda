"""Secrets fail closed: development keys only for development said explicitly on
loopback; a missing key, or a published one anywhere else, stops the process with one
line naming the variable; any secret may come from a file (`_FILE`)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError

from onceonly.platform.secrets import (
    DEVELOPMENT_PII_KEY,
    DEVELOPMENT_SECRET,
    DEVELOPMENT_TRACKING_API_TOKEN_KEYS,
    KeyRing,
    SettingsRefused,
    holds_development_key,
)
from onceonly.platform.settings import (
    PlatformSettings,
    development_refusal,
    is_loopback,
    load_settings,
)

PII_KEY = "prod1:" + base64.b64encode(b"p" * 32).decode()
TOKEN_KEYS = "prod-tracking-1:a-production-token-key-of-32-bytes-or-more"


class ApiSettings(PlatformSettings):
    """A service like the real ones: an API on `api_host`, needing two keys."""

    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("pii_keys", "tracking_api_token_keys")
    LISTEN_HOSTS: ClassVar[tuple[str, ...]] = ("api_host",)

    api_host: str = "127.0.0.1"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ONCEONLY_"):
            monkeypatch.delenv(name)


def test_development_said_explicitly_on_loopback_uses_the_development_keys() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2", "[::1]"):
        settings = ApiSettings(environment="development", api_host=host)
        assert settings.pii_keys.get_secret_value() == DEVELOPMENT_PII_KEY
        assert settings.tracking_api_token_keys.get_secret_value() == (
            DEVELOPMENT_TRACKING_API_TOKEN_KEYS
        )
        assert development_refusal(settings) is None


def test_development_from_the_environment_counts_as_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONCEONLY_ENVIRONMENT", "development")
    assert ApiSettings().pii_keys.get_secret_value() == DEVELOPMENT_PII_KEY


def test_an_unset_environment_refuses_a_development_key() -> None:
    with pytest.raises(ValidationError) as refused:
        ApiSettings(pii_keys=DEVELOPMENT_PII_KEY, tracking_api_token_keys=TOKEN_KEYS)
    message = str(refused.value)
    assert "ONCEONLY_PII_KEYS is a published development key" in message
    assert "ONCEONLY_ENVIRONMENT is not set" in message


def test_an_unset_environment_refuses_to_start_without_keys() -> None:
    # The old default (development) no longer fills them in.
    with pytest.raises(ValidationError, match="ONCEONLY_PII_KEYS \\(or ONCEONLY_PII_KEYS_FILE"):
        ApiSettings()


@pytest.mark.parametrize("environment", ["production", "staging", "test"])
def test_anything_but_development_refuses_development_keys(environment: str) -> None:
    with pytest.raises(ValidationError, match=f"ONCEONLY_ENVIRONMENT={environment}"):
        ApiSettings(
            environment=environment,
            pii_keys=PII_KEY,
            tracking_api_token_keys=DEVELOPMENT_TRACKING_API_TOKEN_KEYS,
        )


def test_production_refuses_a_missing_key_naming_it() -> None:
    with pytest.raises(ValidationError, match="ONCEONLY_TRACKING_API_TOKEN_KEYS \\(or"):
        ApiSettings(environment="production", pii_keys=PII_KEY)


def test_production_with_its_own_keys_starts() -> None:
    settings = ApiSettings(
        environment="production", pii_keys=PII_KEY, tracking_api_token_keys=TOKEN_KEYS
    )
    assert settings.pii_keys.get_secret_value() == PII_KEY
    # Keys it does not need stay unset: no development key creeps in.
    assert settings.department_api_token_keys.get_secret_value() == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "api.internal", ""])
def test_development_listening_beyond_loopback_refuses_development_keys(host: str) -> None:
    with pytest.raises(ValidationError, match=f"ONCEONLY_API_HOST={host} is not a loopback"):
        ApiSettings(environment="development", api_host=host)
    with pytest.raises(ValidationError, match="published development key"):
        ApiSettings(
            environment="development",
            api_host=host,
            pii_keys=DEVELOPMENT_PII_KEY,
            tracking_api_token_keys=TOKEN_KEYS,
        )
    # With real keys, development on a network address is allowed (it is not a key).
    ApiSettings(
        environment="development",
        api_host=host,
        pii_keys=PII_KEY,
        tracking_api_token_keys=TOKEN_KEYS,
    )


def test_a_development_key_kept_for_rotation_is_refused_too() -> None:
    with pytest.raises(ValidationError, match="ONCEONLY_PII_KEYS is a published"):
        ApiSettings(
            environment="production",
            pii_keys=f"{PII_KEY},{DEVELOPMENT_PII_KEY}",
            tracking_api_token_keys=TOKEN_KEYS,
        )
    # The single secret of old, under an id of one's own, is as published as ever.
    with pytest.raises(ValidationError, match="ONCEONLY_TRACKING_API_TOKEN_KEYS is a published"):
        ApiSettings(
            environment="production",
            pii_keys=PII_KEY,
            tracking_api_token_keys=f"mine:{DEVELOPMENT_SECRET}",
        )
    assert holds_development_key(f"a:{'x' * 40},b:{DEVELOPMENT_SECRET}")
    assert not holds_development_key("plain-secret-without-separators")


def test_malformed_keys_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValidationError, match="ONCEONLY_PII_KEYS: each key") as bad_pii:
        ApiSettings(
            environment="production", pii_keys="k1:not-base64!", tracking_api_token_keys=TOKEN_KEYS
        )
    assert "not-base64" not in str(bad_pii.value)
    short = "k1:too-short-a-secret"
    with pytest.raises(ValidationError, match="shorter than 32 bytes") as bad_ring:
        ApiSettings(environment="production", pii_keys=PII_KEY, tracking_api_token_keys=short)
    assert "too-short-a-secret" not in str(bad_ring.value)
    with pytest.raises(SettingsRefused, match="appears twice"):
        KeyRing.parse(f"{TOKEN_KEYS},{TOKEN_KEYS}", setting="X")
    with pytest.raises(SettingsRefused, match="not `id:secret`"):
        KeyRing.parse("no-id-at-all-but-long-enough-to-be-a-key", setting="X")


def test_secrets_are_read_from_the_files_that_FILE_variables_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pii, tokens, database = tmp_path / "pii", tmp_path / "tokens", tmp_path / "database"
    pii.write_text(PII_KEY + "\n", encoding="utf-8")  # mounted secrets often end in one
    tokens.write_text(TOKEN_KEYS, encoding="utf-8")
    database.write_text("postgresql://svc:s3cret@db:5432/onceonly\n", encoding="utf-8")
    monkeypatch.setenv("ONCEONLY_ENVIRONMENT", "production")
    monkeypatch.setenv("ONCEONLY_PII_KEYS_FILE", str(pii))
    monkeypatch.setenv("ONCEONLY_TRACKING_API_TOKEN_KEYS_FILE", str(tokens))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL_FILE", str(database))
    settings = ApiSettings()
    assert settings.pii_keys.get_secret_value() == PII_KEY
    assert settings.tracking_api_token_keys.get_secret_value() == TOKEN_KEYS
    assert settings.database_url == "postgresql://svc:s3cret@db:5432/onceonly"


def test_a_FILE_variable_is_refused_beside_its_value_or_when_unreadable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = tmp_path / "pii"
    keys.write_text(PII_KEY, encoding="utf-8")
    monkeypatch.setenv("ONCEONLY_ENVIRONMENT", "development")
    monkeypatch.setenv("ONCEONLY_PII_KEYS_FILE", str(keys))
    monkeypatch.setenv("ONCEONLY_PII_KEYS", PII_KEY)
    with pytest.raises(SettingsRefused, match="ONCEONLY_PII_KEYS and ONCEONLY_PII_KEYS_FILE"):
        ApiSettings()
    monkeypatch.delenv("ONCEONLY_PII_KEYS")
    monkeypatch.setenv("ONCEONLY_PII_KEYS_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsRefused, match=r"ONCEONLY_PII_KEYS_FILE=.* cannot be read"):
        ApiSettings()
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    monkeypatch.setenv("ONCEONLY_PII_KEYS_FILE", str(tmp_path / "empty"))
    with pytest.raises(SettingsRefused, match=r"ONCEONLY_PII_KEYS_FILE=.* is empty"):
        ApiSettings()


def test_a_development_key_in_a_file_is_as_refused_as_in_a_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = tmp_path / "pii"
    keys.write_text(DEVELOPMENT_PII_KEY, encoding="utf-8")
    monkeypatch.setenv("ONCEONLY_PII_KEYS_FILE", str(keys))
    with pytest.raises(ValidationError, match="ONCEONLY_PII_KEYS is a published"):
        ApiSettings(environment="production", tracking_api_token_keys=TOKEN_KEYS)


def test_load_settings_exits_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ONCEONLY_ENVIRONMENT", "production")
    monkeypatch.setenv("ONCEONLY_PII_KEYS", DEVELOPMENT_PII_KEY)
    monkeypatch.setenv("ONCEONLY_TRACKING_API_TOKEN_KEYS", TOKEN_KEYS)
    with pytest.raises(SystemExit) as stopped:
        load_settings(ApiSettings)
    line = str(stopped.value.code)
    assert "\n" not in line
    assert "refusing to start: ONCEONLY_PII_KEYS is a published development key" in line
    assert DEVELOPMENT_PII_KEY not in line and TOKEN_KEYS not in line
    # A file that cannot be read, and a value of the wrong type: one line as well.
    monkeypatch.setenv("ONCEONLY_PII_KEYS_FILE", str(tmp_path / "missing"))
    monkeypatch.delenv("ONCEONLY_PII_KEYS")
    with pytest.raises(SystemExit, match="ONCEONLY_PII_KEYS_FILE="):
        load_settings(ApiSettings)
    monkeypatch.delenv("ONCEONLY_PII_KEYS_FILE")
    monkeypatch.setenv("ONCEONLY_STAFF_TOKEN_MAX_HOURS", "-1")
    with pytest.raises(SystemExit, match="ONCEONLY_STAFF_TOKEN_MAX_HOURS: ") as bad:
        load_settings(ApiSettings)
    assert "\n" not in str(bad.value.code)


def test_loopback_means_this_machine_only() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "host", ""))
