"""Stored materials are encrypted under a key derived from the PII keys, rotate with
them, and are bound to their upload."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from onceonly.intake.upload_crypto import UploadCipher, UploadDecryptionError
from onceonly.platform.pii import PiiSealer


def key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


OLD, NEW = key("k2025"), key("k2026")
FILE = b"%PDF-1.7 the applicant's household register"


def test_the_stored_blob_is_not_the_file_and_opens_again() -> None:
    cipher = UploadCipher.from_pii_keys(OLD)
    upload = uuid.uuid4()
    key_id, blob = cipher.encrypt(upload, FILE)
    assert key_id == "k2025"
    assert FILE not in blob
    assert cipher.decrypt(upload, key_id, blob) == FILE


def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    upload = uuid.uuid4()
    key_id, blob = UploadCipher.from_pii_keys(OLD).encrypt(upload, FILE)
    rotated = UploadCipher.from_pii_keys(f"{NEW},{OLD}")
    assert rotated.current_key_id == "k2026"
    assert rotated.decrypt(upload, key_id, blob) == FILE
    with pytest.raises(UploadDecryptionError, match="not in ONCEONLY_PII_KEYS"):
        UploadCipher.from_pii_keys(NEW).decrypt(upload, key_id, blob)


def test_a_blob_moved_to_another_upload_or_tampered_does_not_open() -> None:
    cipher = UploadCipher.from_pii_keys(OLD)
    upload = uuid.uuid4()
    key_id, blob = cipher.encrypt(upload, FILE)
    with pytest.raises(UploadDecryptionError):
        cipher.decrypt(uuid.uuid4(), key_id, blob)
    with pytest.raises(UploadDecryptionError):
        cipher.decrypt(upload, key_id, blob[:-1] + bytes([blob[-1] ^ 1]))


def test_rows_from_before_encryption_are_read_as_they_are() -> None:
    assert UploadCipher.from_pii_keys(OLD).decrypt(uuid.uuid4(), None, FILE) == FILE


def test_the_upload_key_is_not_the_pii_key() -> None:
    # A blob's key is derived for uploads only: the PII key itself does not open it.
    upload = uuid.uuid4()
    _, blob = UploadCipher.from_pii_keys(OLD).encrypt(upload, b"x")
    raw = base64.b64decode(OLD.partition(":")[2])
    assert UploadCipher([("k2025", raw)]).current_key_id == "k2025"
    with pytest.raises(UploadDecryptionError):
        UploadCipher([("k2025", raw)]).decrypt(upload, "k2025", blob)
    assert PiiSealer(OLD).primary_key_id == "k2025"
