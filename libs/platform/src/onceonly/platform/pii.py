"""Personal data: sealed at rest and in events (AES-GCM), masked for display.

A sealed value is `key_id:base64(nonce + ciphertext)`. The first configured key seals;
every configured key can open, so keys rotate by prepending a new one.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from onceonly.events.v1.application_pb2 import SealedText


class PiiError(ValueError):
    """A sealed value that cannot be opened with the configured keys."""


def pii_keys(keys_spec: str) -> list[tuple[str, bytes]]:
    """The keys of `ONCEONLY_PII_KEYS` (`id:base64(32 bytes)`, comma-separated), the
    sealing one first."""
    keys: list[tuple[str, bytes]] = []
    for item in keys_spec.split(","):
        key_id, _, material = item.strip().partition(":")
        raw = base64.b64decode(material)
        if not key_id or len(raw) != 32:
            raise PiiError("each PII key must be `id:base64(32 bytes)`")
        keys.append((key_id, raw))
    return keys


def derived_pii_keys(keys_spec: str, *, purpose: str) -> list[tuple[str, bytes]]:
    """A 32-byte key for `purpose` derived from each PII key (HKDF-SHA256, the purpose as
    its info), under the PII key's id, the sealing one first: another use of the key
    family (e.g. Temporal's payloads) rotates with it, yet what it encrypts can never be
    opened as a sealed value, nor a sealed value as its data."""
    return [
        (key_id, HKDF(hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(raw))
        for key_id, raw in pii_keys(keys_spec)
    ]


class PiiSealer:
    """Seals and opens personal data with the keys from settings."""

    def __init__(self, keys_spec: str) -> None:
        self._keys: dict[str, AESGCM] = {}
        self._primary = ""
        for key_id, raw in pii_keys(keys_spec):
            self._keys[key_id] = AESGCM(raw)
            self._primary = self._primary or key_id

    def seal(self, plaintext: str, *, context: str = "") -> str:
        nonce = os.urandom(12)
        box = self._keys[self._primary].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{self._primary}:{base64.urlsafe_b64encode(nonce + box).decode()}"

    def open(self, sealed: str, *, context: str = "") -> str:
        key_id, _, payload = sealed.partition(":")
        aead = self._keys.get(key_id)
        if aead is None:
            raise PiiError(f"no key {key_id!r} to open this value")
        raw = base64.urlsafe_b64decode(payload)
        try:
            return aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except Exception as exc:  # cryptography raises InvalidTag without a message
            raise PiiError("sealed value does not open (wrong key or tampered)") from exc

    @property
    def primary_key_id(self) -> str:
        """The id of the key that seals; values sealed under another one await resealing."""
        return self._primary

    def reseal(self, sealed: str, *, context: str = "") -> str:
        """The value sealed again under the primary key (to retire an old key)."""
        return self.seal(self.open(sealed, context=context), context=context)

    def sealed_text(self, plaintext: str, masked: str, *, context: str = "") -> SealedText:
        return SealedText(sealed=self.seal(plaintext, context=context), masked=masked)


def mask_mobile(number: str) -> str:
    """`13812345678` → `1381234****`."""
    return number[:-4] + "****" if len(number) > 4 else "****"


def mask_identifier(value: str) -> str:
    """`430102199001011234` → `4301**************`: the region's first four only. Not the
    last four, which once were a secret of the progress lookup and tell a known person's
    number apart from others of the same region."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 4)


def mask_name(name: str) -> str:
    """`张三丰`, `张三` → `张**`: the first character and always two stars, so that a
    mask tells nothing of the name's length."""
    return name[:1] + "**" if name else ""


# Personal fields of an application's `form` (marked `x-personal` in the matter's form
# schema) are stored and published in place as `{"sealed": "key_id:...", "masked": "张**"}`;
# every other field stays as sent. Sealed under `form_field_context`, so a value copied to
# another field or application does not open there.
def form_field_context(application_code: str, path: tuple[str | int, ...]) -> str:
    """The sealing context of the form field at `path` (keys from the form's root)."""
    return f"{application_code}:form:{'/'.join(str(part) for part in path)}"


def is_sealed_field(value: object) -> bool:
    """A sealed form field: an object with string `sealed` and `masked` (the same test
    intake's reseal makes in SQL; anything else there is dropped from views)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("sealed"), str)
        and isinstance(value.get("masked"), str)
    )


def masked_form(form: object) -> object:
    """`form` for display: every sealed field replaced by its mask (nothing to open)."""
    if is_sealed_field(form):
        return form["masked"]  # type: ignore[index]
    if isinstance(form, dict):
        return {key: masked_form(value) for key, value in form.items()}
    if isinstance(form, list):
        return [masked_form(item) for item in form]
    return form


FormPath = tuple[str | int, ...]


def sealed_form_fields(form: object, path: FormPath = ()) -> list[tuple[FormPath, dict[str, str]]]:
    """Every sealed field of `form` with its path (to reseal or open them)."""
    if is_sealed_field(form):
        return [(path, form)]  # type: ignore[list-item]
    found: list[tuple[FormPath, dict[str, str]]] = []
    if isinstance(form, dict):
        for key, value in form.items():
            found.extend(sealed_form_fields(value, (*path, key)))
    elif isinstance(form, list):
        for index, item in enumerate(form):
            found.extend(sealed_form_fields(item, (*path, index)))
    return found
