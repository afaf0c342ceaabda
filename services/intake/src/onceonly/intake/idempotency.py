"""Idempotency keys: a retried request gets the first answer; a reused key with a
different request is refused."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onceonly.intake.errors import InvalidValue
from onceonly.platform.canonical_json import canonical_json

# Visible ASCII, as in the IETF draft's examples; the API documents the same pattern.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # fullmatch: no trailing newline slips by


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    key: str
    request_sha256: bytes


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    request_sha256: bytes
    status: int
    body: dict[str, Any]


def validate_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidValue(
            "format",
            "An Idempotency-Key is 1 to 255 visible ASCII characters, e.g. a UUID.",
            "Idempotency-Key 应为 1 至 255 个可见 ASCII 字符, 例如 UUID.",
        )
    return key


def request_fingerprint(method: str, path: str, body: Mapping[str, Any]) -> bytes:
    """SHA-256 of the request's meaning: the same JSON in any key order or spacing
    counts as the same request."""
    return hashlib.sha256(canonical_json([method.upper(), path, body]).encode()).digest()
