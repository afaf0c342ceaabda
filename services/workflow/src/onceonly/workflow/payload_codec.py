"""Temporal payloads encrypted (AES-256-GCM) under keys of the PII key family.

Workflow and activity inputs and results, signals, updates, queries and failures'
messages pass through Temporal's store and UI; they hold applicants' data (the form,
masked identifiers, decisions' reasons). Every client of the service is connected with
`data_converter` (temporal.py), so what reaches Temporal is ciphertext, and only a
process holding `ONCEONLY_PII_KEYS` (the worker, the bridge, the department API and its
codec endpoint for operators) reads it.

An encrypted payload is the serialised original payload, encrypted, with metadata
`encoding: binary/encrypted` and `encryption-key-id: <PII key id>`. Its key is derived
from that PII key for this purpose only (`derived_pii_keys`), so keys rotate with
`ONCEONLY_PII_KEYS`: the first key encrypts, every key of the ring decrypts. Payloads
that are not encrypted pass through decoding unchanged: histories recorded before the
codec, and workflows started before it, keep working.

Not encoded by any codec, so kept free of personal data by the workflow itself: search
attributes (application code, matter, departments, integrator, supervision level, due
time) and workflow headers (the trace context). No memo is set.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from onceonly.platform.pii import derived_pii_keys
from onceonly.workflow.payload_converter import PayloadConverter

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# HKDF info: the key of this purpose differs from the PII key that seals values.
PURPOSE = "onceonly temporal payload codec v1"
_NONCE_BYTES = 12


class PayloadCodecError(ValueError):
    """An encrypted payload that cannot be decrypted with the configured keys."""


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload under the current key; decrypts under any key of the
    ring; passes through payloads that are not encrypted."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}
        if not self._keys:
            raise PayloadCodecError("the payload codec needs at least one key")
        self._current = next(iter(self._keys))

    @classmethod
    def from_pii_keys(cls, keys_spec: str) -> EncryptionCodec:
        """The codec of `ONCEONLY_PII_KEYS` (`id:base64(32 bytes)`, comma-separated)."""
        return cls(derived_pii_keys(keys_spec, purpose=PURPOSE))

    @property
    def current_key_id(self) -> str:
        return self._current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self._current.encode()
        # The key id is authenticated too: a payload relabelled with another id fails.
        sealed = self._keys[self._current].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # plaintext from before the codec: kept as it is
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        aead = self._keys.get(key_id)
        if aead is None:
            raise PayloadCodecError(
                f"payload encrypted under key id {key_id!r}, which is not in ONCEONLY_PII_KEYS"
            )
        data = payload.data
        try:
            plain = aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], key_id.encode())
        except InvalidTag:  # raised without a message
            raise PayloadCodecError(
                f"payload under key id {key_id!r} does not decrypt (tampered or wrong key)"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def data_converter(codec: EncryptionCodec) -> DataConverter:
    """The default converter with payloads encrypted by `codec`, and failures' messages
    and stack traces moved into an encrypted payload (they may quote what failed);
    dataclasses decoded with their field types resolved once (payload_converter.py)."""
    return dataclasses.replace(
        DataConverter.default,
        payload_converter_class=PayloadConverter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
