"""Integrator API keys: issuing them, and parsing a presented one (format and check in
onceonly.platform.apikeys, shared with notify)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from onceonly.intake.errors import InvalidApiKey
from onceonly.platform.apikeys import PREFIX, hash_secret, secret_matches, split_api_key

__all__ = ["NewApiKey", "generate_api_key", "hash_secret", "parse_api_key", "secret_matches"]


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key_id: str
    token: str  # shown to the integrator once, never stored
    secret_sha256: bytes


def generate_api_key() -> NewApiKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(
        key_id=key_id, token=f"{PREFIX}_{key_id}_{secret}", secret_sha256=hash_secret(secret)
    )


def parse_api_key(token: str) -> tuple[str, str]:
    """(key id, secret) of a presented key; raises InvalidApiKey if malformed."""
    parsed = split_api_key(token)
    if parsed is None:
        raise InvalidApiKey("malformed API key")
    return parsed
