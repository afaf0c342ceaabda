"""Signed e-licences (电子证照): the canonical payload, its signature, the compact token a QR
code carries, the published public keys, and verification.

A token is `base64url(payload) "." base64url(signature)` (no padding). The payload is
canonical JSON (sorted keys, no spaces, UTF-8), so its bytes are exactly what was signed:
a verifier never re-serialises it, it checks the signature over the bytes it was given
and only then reads them. The payload holds only what the licence itself shows (the
holder masked); the key id and algorithm are inside it, so neither can be swapped.

Signing keys are a ring, `key_id:base64(private key)[,...]` (the first signs, as every
ring in `secrets.py`), with the algorithm in front of the material when it is not the
default: `key_id:ed25519:...`. Algorithms are looked up by name in `ALGORITHMS`, so SM2
can be added as one more entry without touching the payload or the verifiers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from onceonly.platform.canonical_json import canonical_json
from onceonly.platform.secrets import KeyRing, SettingsRefused

PAYLOAD_VERSION = 1
DEFAULT_ALGORITHM = "ed25519"
# A QR code of version 40 holds ~2,900 bytes; ours are far below. Longer input is refused
# before decoding anything.
MAX_TOKEN_CHARS = 2048


class Outcome(StrEnum):
    GENUINE = "genuine"
    REVOKED = "revoked"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class Signer(Protocol):
    """A private key of one algorithm."""

    algorithm: str
    key_id: str

    def sign(self, data: bytes) -> bytes: ...

    def public_key(self) -> bytes:
        """The raw public key, as published."""
        ...


class Algorithm(Protocol):
    """What an algorithm provides: a signer from private material, and verification."""

    name: str

    def signer(self, key_id: str, private: bytes) -> Signer: ...

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool: ...


@dataclass(frozen=True)
class _Ed25519Signer:
    key_id: str
    _key: Ed25519PrivateKey
    algorithm: str = "ed25519"

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes_raw()


class Ed25519:
    name = "ed25519"

    def signer(self, key_id: str, private: bytes) -> Signer:
        if len(private) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        return _Ed25519Signer(key_id, Ed25519PrivateKey.from_private_bytes(private))

    def verify(self, public_key: bytes, data: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


# SM2 (GB/T 32918) would be one more entry here; `cryptography` does not implement it.
ALGORITHMS: dict[str, Algorithm] = {"ed25519": Ed25519()}


@dataclass(frozen=True)
class LicencePayload:
    """What a licence shows, and which key signed it."""

    number: str
    licence_type: str
    holder_masked: str
    issuer_region: str
    issued_at: datetime
    valid_until: datetime | None  # None: long-term
    key_id: str
    algorithm: str = DEFAULT_ALGORITHM

    def canonical(self) -> bytes:
        """Deterministic bytes: sorted keys, no spaces, UTF-8, times in UTC to the second."""
        body = {
            "v": PAYLOAD_VERSION,
            "alg": self.algorithm,
            "kid": self.key_id,
            "no": self.number,
            "type": self.licence_type,
            "holder": self.holder_masked,
            "issuer": self.issuer_region,
            "iat": _instant(self.issued_at),
            "exp": _instant(self.valid_until) if self.valid_until else "",
        }
        return canonical_json(body).encode()

    def shown(self) -> dict[str, str]:
        """The licence's face, as a verifier answers it (nothing more than it carries)."""
        return {
            "number": self.number,
            "licence_type": self.licence_type,
            "holder_masked": self.holder_masked,
            "issuer_region": self.issuer_region,
            "issued_at": _instant(self.issued_at),
            "valid_until": _instant(self.valid_until) if self.valid_until else "",
            "key_id": self.key_id,
        }

    @classmethod
    def parse(cls, data: bytes) -> LicencePayload:
        """The payload of canonical bytes; ValueError if they are not one."""
        body = json.loads(data.decode())
        if not isinstance(body, dict) or body.get("v") != PAYLOAD_VERSION:
            raise ValueError("not a version 1 payload")
        fields = ("alg", "kid", "no", "type", "holder", "issuer", "iat", "exp")
        if not all(isinstance(body.get(name), str) for name in fields):
            raise ValueError("a payload field is missing")
        payload = cls(
            number=body["no"],
            licence_type=body["type"],
            holder_masked=body["holder"],
            issuer_region=body["issuer"],
            issued_at=_parse_instant(body["iat"]),
            valid_until=_parse_instant(body["exp"]) if body["exp"] else None,
            key_id=body["kid"],
            algorithm=body["alg"],
        )
        # Only the canonical form is accepted: one licence, one byte string.
        if payload.canonical() != data:
            raise ValueError("not canonical")
        return payload


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_instant(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKeys:
    """The e-licence signing ring: the first key signs, every one is published."""

    signers: tuple[Signer, ...]

    @classmethod
    def parse(cls, spec: str, *, setting: str) -> SigningKeys:
        """`key_id:[algorithm:]base64(private key)[,...]`; refused naming `setting`."""
        ring = KeyRing.parse(spec, setting=setting, min_bytes=1)
        signers: list[Signer] = []
        for key_id, material in ring.keys:
            name, _, encoded = material.decode().rpartition(":")
            algorithm = ALGORITHMS.get(name or DEFAULT_ALGORITHM)
            if algorithm is None:
                raise SettingsRefused(f"{setting}: key {key_id!r} names an unknown algorithm")
            try:
                signers.append(algorithm.signer(key_id, base64.b64decode(encoded, validate=True)))
            except (ValueError, binascii.Error):
                raise SettingsRefused(
                    f"{setting}: key {key_id!r} is not base64 of a {algorithm.name} private key"
                ) from None
        return cls(tuple(signers))

    @property
    def current(self) -> Signer:
        return self.signers[0]

    def sign(self, payload: LicencePayload) -> str:
        """The token of `payload`, signed by the current key (whose id it must name)."""
        signer = self.current
        if (payload.key_id, payload.algorithm) != (signer.key_id, signer.algorithm):
            raise ValueError("the payload names another key")
        data = payload.canonical()
        return f"{_b64(data)}.{_b64(signer.sign(data))}"

    def payload_for(self, **fields: Any) -> LicencePayload:
        """A payload naming the current key."""
        signer = self.current
        return LicencePayload(**fields, key_id=signer.key_id, algorithm=signer.algorithm)

    def published(self, *, also: PublishedKeys | None = None) -> PublishedKeys:
        """The public keys of the ring, with `also` (retired keys, kept published)."""
        keys = {s.key_id: PublicKey(s.key_id, s.algorithm, s.public_key()) for s in self.signers}
        for key in also.keys.values() if also else ():
            keys.setdefault(key.key_id, key)
        return PublishedKeys(keys)


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    algorithm: str
    public_key: bytes


@dataclass(frozen=True)
class PublishedKeys:
    """Key id -> public key: what a verifier, online or offline, trusts."""

    keys: Mapping[str, PublicKey] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": [
                {"kid": k.key_id, "alg": k.algorithm, "public_key": _b64(k.public_key)}
                for k in sorted(self.keys.values(), key=lambda k: k.key_id)
            ]
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> PublishedKeys:
        """Keys of a published document; ValueError if it is not one."""
        entries = document.get("keys") if isinstance(document, Mapping) else None
        if not isinstance(entries, list):
            raise ValueError("a published keys document has a `keys` list")
        keys: dict[str, PublicKey] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not all(
                isinstance(entry.get(name), str) for name in ("kid", "alg", "public_key")
            ):
                raise ValueError("each key has `kid`, `alg` and `public_key`")
            keys[entry["kid"]] = PublicKey(entry["kid"], entry["alg"], _unb64(entry["public_key"]))
        return cls(keys)


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    reason: str  # why, in a few words, for people; never personal data
    licence: LicencePayload | None = None  # only when the signature holds

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome),
            "reason": self.reason,
            "licence": self.licence.shown() if self.licence else None,
        }


def token_of(scanned: str) -> str:
    """The token in what a QR code carries: the token itself, or a verification URL with
    it in its `t` parameter."""
    text = scanned.strip()
    if "://" in text:
        values = parse_qs(urlsplit(text).query).get("t", [])
        return values[0] if values else ""
    return text


def verify(
    token: str,
    keys: PublishedKeys,
    *,
    now: datetime,
    revoked: Iterable[str] = (),
) -> Verification:
    """Genuine, revoked (its number in `revoked`), expired, or unknown (malformed, a key
    not published, a signature that does not hold over the bytes given)."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        return Verification(Outcome.UNKNOWN, "not an e-licence token")
    encoded_payload, encoded_signature = token.split(".")
    try:
        data, signature = _unb64(encoded_payload), _unb64(encoded_signature)
        # One licence, one string: base64 decoding skips stray characters and ignores the
        # last character's unused bits, so anything but the canonical encoding is refused.
        if (_b64(data), _b64(signature)) != (encoded_payload, encoded_signature):
            raise ValueError("not canonical base64url")
        claimed = LicencePayload.parse(data)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return Verification(Outcome.UNKNOWN, "not an e-licence token")
    key = keys.keys.get(claimed.key_id)
    if key is None:
        return Verification(Outcome.UNKNOWN, "signed by a key that is not published")
    algorithm = ALGORITHMS.get(key.algorithm)
    # The published key decides the algorithm; the payload must agree (no downgrade).
    if algorithm is None or key.algorithm != claimed.algorithm:
        return Verification(Outcome.UNKNOWN, "signed with an algorithm not published")
    if not algorithm.verify(key.public_key, data, signature):
        return Verification(Outcome.UNKNOWN, "the signature does not match the licence")
    if claimed.number in set(revoked):
        return Verification(Outcome.REVOKED, "revoked", claimed)
    if claimed.valid_until is not None and claimed.valid_until < now:
        return Verification(Outcome.EXPIRED, "expired", claimed)
    return Verification(Outcome.GENUINE, "genuine", claimed)
