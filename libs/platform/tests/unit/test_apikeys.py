"""API keys: format, hashing, constant-time verification."""

from __future__ import annotations

import hashlib

import pytest

from onceonly.platform.apikeys import generate_api_key, secret_matches, split_api_key


def parse_api_key(token: str) -> tuple[str, str]:
    parsed = split_api_key(token)
    assert parsed is not None, token
    return parsed


def test_a_new_key_parses_and_matches_its_stored_hash() -> None:
    key = generate_api_key()
    key_id, secret = parse_api_key(key.token)
    assert key_id == key.key_id
    assert key.token == f"oo_{key_id}_{secret}"
    assert key.secret_sha256 == hashlib.sha256(secret.encode()).digest()
    assert secret not in key.secret_sha256.hex()
    assert secret_matches(secret, key.secret_sha256)


def test_keys_are_unique() -> None:
    keys = {generate_api_key().token for _ in range(200)}
    assert len(keys) == 200


def test_a_wrong_secret_or_an_unknown_key_does_not_match() -> None:
    key = generate_api_key()
    _, secret = parse_api_key(key.token)
    other = generate_api_key()
    assert not secret_matches(secret, other.secret_sha256)
    assert not secret_matches(secret, None)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "oo_",
        "oo_0123456789abcdef",
        "oo_0123456789abcdef_",
        "xx_0123456789abcdef_" + "a" * 43,
        "oo_0123456789ABCDEF_" + "a" * 43,
        "oo_0123_" + "a" * 43,
        "oo_0123456789abcdef_short",
        "oo_0123456789abcdef_" + "a" * 40 + "!!!",
    ],
)
def test_malformed_keys_are_refused(token: str) -> None:
    assert split_api_key(token) is None
