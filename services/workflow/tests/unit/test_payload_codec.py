"""Temporal's payloads encrypted under keys of the PII key family (payload_codec.py)."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from onceonly.platform.pii import PiiError, PiiSealer, derived_pii_keys, pii_keys
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.workflow.payload_codec import (
    ENCODING,
    KEY_ID,
    PURPOSE,
    EncryptionCodec,
    PayloadCodecError,
    data_converter,
)
from onceonly.workflow.shared import ApplicationInput, ContactInput

OLD = f"k2026a:{base64.b64encode(os.urandom(32)).decode()}"
NEW = f"k2026b:{base64.b64encode(os.urandom(32)).decode()}"
NAME, RESIDENT_ID, MOBILE = "张三丰", "11010519491231002X", "13812345678"


def application() -> ApplicationInput:
    return ApplicationInput(
        application_code="330100-20261204-000001X",
        matter_code="household-transfer",
        integrator_id="portal",
        applicant_kind="person",
        materials=["resident-id"],
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at="2026-12-04T01:00:00+00:00",
        form_json=f'{{"name":"{NAME}","id":"{RESIDENT_ID}","mobile":"{MOBILE}"}}',
    )


async def test_a_value_round_trips_and_is_stored_encrypted() -> None:
    converter = data_converter(EncryptionCodec.from_pii_keys(OLD))
    [payload] = await converter.encode([application()])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID] == b"k2026a"
    for plain in (NAME, RESIDENT_ID, MOBILE, "1381234****", "household-transfer"):
        assert plain.encode() not in payload.SerializeToString()
    [back] = await converter.decode([payload], [ApplicationInput])
    assert back == application()


async def test_after_rotation_the_new_key_encrypts_and_the_old_one_still_decrypts() -> None:
    before = await EncryptionCodec.from_pii_keys(OLD).encode([Payload(data=b"before")])
    rotated = EncryptionCodec.from_pii_keys(f"{NEW},{OLD}")
    after = await rotated.encode([Payload(data=b"after")])
    assert after[0].metadata[KEY_ID] == b"k2026b"
    decoded = await rotated.decode([*before, *after])
    assert [p.data for p in decoded] == [b"before", b"after"]


async def test_a_key_id_not_in_the_ring_fails_naming_it() -> None:
    encoded = await EncryptionCodec.from_pii_keys(OLD).encode([Payload(data=b"x")])
    with pytest.raises(PayloadCodecError, match=r"'k2026a'.*not in ONCEONLY_PII_KEYS"):
        await EncryptionCodec.from_pii_keys(NEW).decode(encoded)


@pytest.mark.parametrize("where", ["ciphertext", "nonce", "key id"])
async def test_a_tampered_payload_fails(where: str) -> None:
    codec = EncryptionCodec.from_pii_keys(f"{NEW},{OLD}")
    [payload] = await codec.encode([Payload(data=b"decision: approved")])
    if where == "key id":  # relabelled with another key of the ring
        payload.metadata[KEY_ID] = b"k2026a"
    else:
        data = bytearray(payload.data)
        data[-1 if where == "ciphertext" else 0] ^= 1
        payload.data = bytes(data)
    with pytest.raises(PayloadCodecError, match="does not decrypt"):
        await codec.decode([payload])


async def test_a_payload_that_is_not_encrypted_passes_through() -> None:
    """Histories and running workflows from before the codec keep working."""
    # As a client without the codec wrote it.
    [plain] = DataConverter.default.payload_converter.to_payloads([application()])
    assert plain.metadata["encoding"] == b"json/plain"
    assert await EncryptionCodec.from_pii_keys(NEW).decode([plain]) == [plain]
    converter = data_converter(EncryptionCodec.from_pii_keys(NEW))
    assert await converter.decode([plain], [ApplicationInput]) == [application()]


async def test_the_codec_key_is_derived_not_the_pii_key_itself() -> None:
    [(key_id, raw)] = pii_keys(DEVELOPMENT_PII_KEY)
    [(derived_id, derived)] = derived_pii_keys(DEVELOPMENT_PII_KEY, purpose=PURPOSE)
    assert derived_id == key_id and len(derived) == 32 and derived != raw
    # Ciphertext of one purpose is not a sealed value of the other.
    [payload] = await EncryptionCodec.from_pii_keys(DEVELOPMENT_PII_KEY).encode(
        [Payload(data=b"x")]
    )
    sealed = f"{key_id}:{base64.urlsafe_b64encode(payload.data).decode()}"
    with pytest.raises(PiiError):
        PiiSealer(DEVELOPMENT_PII_KEY).open(sealed)


async def test_a_failure_message_is_encrypted_too() -> None:
    converter = data_converter(EncryptionCodec.from_pii_keys(OLD))
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"no record for {RESIDENT_ID}"), failure)
    assert RESIDENT_ID.encode() not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    back = await converter.decode_failure(failure)
    assert str(back) == f"no record for {RESIDENT_ID}"
