"""The integrator API key format, `oo_<key_id>_<secret>`: making one, and its check.

The key directory (onceonly.platform.integrator_keys) stores only SHA-256 of the secret;
intake and notify both authenticate integrators through it.
The secret is 256 random bits, so a plain SHA-256 (not a slow password hash) is enough
to make a leaked table useless, and keeps authentication off the request's hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "oo"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{32,128}")
# Compared against when the key id is unknown, so that both paths cost the same.
_DUMMY_HASH = hashlib.sha256(b"no such key").digest()


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def split_api_key(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not _KEY_ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        return None
    return key_id, secret


def secret_matches(secret: str, stored_sha256: bytes | None) -> bool:
    """Constant-time comparison; `None` (unknown key) costs the same and fails."""
    expected = stored_sha256 if stored_sha256 is not None else _DUMMY_HASH
    return hmac.compare_digest(hash_secret(secret), expected) and stored_sha256 is not None


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
