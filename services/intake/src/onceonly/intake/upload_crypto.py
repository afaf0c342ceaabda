"""Uploaded materials encrypted at rest (AES-256-GCM) under keys of the PII key family.

Materials are scans of identity cards, household registers, contracts: personal data as
much as the sealed fields. Each file is encrypted under a key derived (HKDF-SHA256) from
a PII key for this one purpose (`derived_pii_keys`, as Temporal's payload codec does), so
it rotates with `ONCEONLY_PII_KEYS`: the first key encrypts, every key decrypts, and the
key's id is stored beside the blob. The upload's id and the key id are authenticated
data: a blob copied onto another row, or relabelled with another key id, fails to open.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onceonly.platform.pii import derived_pii_keys

# HKDF info: this purpose's key differs from the PII key itself and from every other use.
PURPOSE = "onceonly intake material uploads v1"
_NONCE_BYTES = 12


class UploadDecryptionError(ValueError):
    """A stored upload that does not decrypt with the configured keys."""


class UploadCipher:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise UploadDecryptionError("the upload cipher needs at least one key")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}
        self._current = keys[0][0]

    @classmethod
    def from_pii_keys(cls, keys_spec: str) -> UploadCipher:
        """The cipher of `ONCEONLY_PII_KEYS` (`id:base64(32 bytes)`, comma-separated)."""
        return cls(derived_pii_keys(keys_spec, purpose=PURPOSE))

    @property
    def current_key_id(self) -> str:
        return self._current

    def encrypt(self, upload_id: uuid.UUID, plaintext: bytes) -> tuple[str, bytes]:
        """The current key's id and nonce + ciphertext."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(
            nonce, plaintext, _associated(upload_id, self._current)
        )
        return self._current, nonce + sealed

    def decrypt(self, upload_id: uuid.UUID, key_id: str | None, stored: bytes) -> bytes:
        """The file; a row without a key id was stored before encryption, as plaintext."""
        if key_id is None:
            return stored
        aead = self._keys.get(key_id)
        if aead is None:
            raise UploadDecryptionError(
                f"upload encrypted under key id {key_id!r}, which is not in ONCEONLY_PII_KEYS"
            )
        try:
            return aead.decrypt(
                stored[:_NONCE_BYTES], stored[_NONCE_BYTES:], _associated(upload_id, key_id)
            )
        except InvalidTag:  # raised without a message
            raise UploadDecryptionError(
                f"upload under key id {key_id!r} does not decrypt (tampered or wrong key)"
            ) from None


def _associated(upload_id: uuid.UUID, key_id: str) -> bytes:
    return f"{upload_id}:{key_id}".encode()
