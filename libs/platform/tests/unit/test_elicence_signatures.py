"""Signed e-licences: a valid token verifies; a changed byte, an unknown key, an expired or
revoked licence each get their own answer; a rotated ring keeps older licences valid."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from onceonly.platform.elicence_signatures import (
    LicencePayload,
    Outcome,
    PublishedKeys,
    SigningKeys,
    token_of,
    verify,
)
from onceonly.platform.secrets import DEVELOPMENT_ELICENCE_SIGNING_KEYS, SettingsRefused

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
SETTING = "ONCEONLY_ELICENCE_SIGNING_KEYS"


def ring(*key_ids: str) -> str:
    return ",".join(f"{k}:{base64.b64encode(os.urandom(32)).decode()}" for k in key_ids)


def issue(keys: SigningKeys, *, valid_days: int | None = 365, number: str = "EL-1") -> str:
    payload = keys.payload_for(
        number=number,
        licence_type="营业执照",
        holder_masked="4301**************",
        issuer_region="330100",
        issued_at=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=valid_days) if valid_days is not None else None,
    )
    return keys.sign(payload)


def test_a_valid_licence_is_genuine_and_shows_only_its_face() -> None:
    keys = SigningKeys.parse(ring("k2026a"), setting=SETTING)
    answer = verify(issue(keys), keys.published(), now=NOW)
    assert answer.outcome is Outcome.GENUINE
    assert answer.to_json()["licence"] == {
        "number": "EL-1",
        "licence_type": "营业执照",
        "holder_masked": "4301**************",
        "issuer_region": "330100",
        "issued_at": "2026-12-03T08:00:00Z",
        "valid_until": "2027-12-04T08:00:00Z",
        "key_id": "k2026a",
    }


def test_a_long_term_licence_never_expires() -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    later = NOW + timedelta(days=365 * 50)
    assert verify(issue(keys, valid_days=None), keys.published(), now=later).outcome == "genuine"


def test_the_payload_bytes_are_canonical() -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    token = issue(keys)
    data = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert (
        data
        == json.dumps(
            json.loads(data), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode()
    )
    assert LicencePayload.parse(data).canonical() == data


def test_any_changed_byte_is_unknown() -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    token = issue(keys)
    payload, signature = token.split(".")
    data = bytearray(base64.urlsafe_b64decode(payload + "=="))
    for index in range(len(data)):
        changed = bytearray(data)
        changed[index] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        answer = verify(f"{forged}.{signature}", keys.published(), now=NOW)
        assert answer.outcome is Outcome.UNKNOWN, index
        assert answer.licence is None
    sig = bytearray(base64.urlsafe_b64decode(signature + "=="))
    sig[0] ^= 0x80
    forged_sig = base64.urlsafe_b64encode(bytes(sig)).rstrip(b"=").decode()
    assert verify(f"{payload}.{forged_sig}", keys.published(), now=NOW).outcome == "unknown"


def test_any_changed_character_of_the_token_is_unknown() -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    token = issue(keys)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, char in enumerate(token):
        if char == ".":
            continue
        # The next character of the alphabet: also one that differs only in unused bits.
        other = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        changed = token[:index] + other + token[index + 1 :]
        assert verify(changed, keys.published(), now=NOW).outcome == "unknown", index
    for junk in ("!", "=", " ", "\n"):
        assert verify(token[:5] + junk + token[5:], keys.published(), now=NOW).outcome == (
            "unknown"
        )
    assert verify(token + "=", keys.published(), now=NOW).outcome == "unknown"


def test_a_non_canonical_re_encoding_of_a_signed_payload_is_unknown() -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    payload, signature = issue(keys).split(".")
    spaced = json.dumps(json.loads(base64.urlsafe_b64decode(payload + "==")), indent=1)
    other = base64.urlsafe_b64encode(spaced.encode()).rstrip(b"=").decode()
    assert verify(f"{other}.{signature}", keys.published(), now=NOW).outcome == "unknown"


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "Zm9v.YmFy", "!!!.???", "a" * 5000])
def test_garbage_is_unknown(token: str) -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    assert verify(token, keys.published(), now=NOW).outcome is Outcome.UNKNOWN


def test_a_key_not_published_is_unknown() -> None:
    ours = SigningKeys.parse(ring("k1"), setting=SETTING)
    theirs = SigningKeys.parse(ring("k1"), setting=SETTING)  # same id, other key
    stranger = SigningKeys.parse(ring("k9"), setting=SETTING)
    answer = verify(issue(stranger), ours.published(), now=NOW)
    assert (answer.outcome, answer.reason) == ("unknown", "signed by a key that is not published")
    answer = verify(issue(theirs), ours.published(), now=NOW)
    assert (answer.outcome, answer.reason) == (
        "unknown",
        "the signature does not match the licence",
    )


def test_expired_and_revoked() -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    token = issue(keys, valid_days=30)
    assert verify(token, keys.published(), now=NOW + timedelta(days=31)).outcome == "expired"
    revoked = verify(token, keys.published(), now=NOW, revoked={"EL-1"})
    assert revoked.outcome is Outcome.REVOKED
    assert verify(token, keys.published(), now=NOW, revoked={"EL-2"}).outcome == "genuine"


def test_rotation_keeps_licences_signed_with_the_old_key_valid() -> None:
    old_ring = ring("k2025")
    before = SigningKeys.parse(old_ring, setting=SETTING)
    old_token = issue(before)
    # The new key goes first: it signs from now on, the old one stays published.
    after = SigningKeys.parse(ring("k2026") + "," + old_ring, setting=SETTING)
    new_token = issue(after, number="EL-2")
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] == "k2026"
    for token in (old_token, new_token):
        assert verify(token, after.published(), now=NOW).outcome is Outcome.GENUINE
    # The old private key dropped, its public key kept as published (retired): still genuine.
    retired = PublishedKeys.from_json(before.published().to_json())
    only_new = SigningKeys.parse(ring("k2026"), setting=SETTING)
    assert verify(old_token, only_new.published(also=retired), now=NOW).outcome == "genuine"
    assert verify(old_token, only_new.published(), now=NOW).outcome == "unknown"


def test_the_published_document_round_trips() -> None:
    keys = SigningKeys.parse(ring("a", "b"), setting=SETTING)
    document = json.loads(json.dumps(keys.published().to_json()))
    assert [k["kid"] for k in document["keys"]] == ["a", "b"]
    assert all(k["alg"] == "ed25519" for k in document["keys"])
    assert verify(issue(keys), PublishedKeys.from_json(document), now=NOW).outcome == "genuine"


def test_the_published_algorithm_decides() -> None:
    keys = SigningKeys.parse(ring("k1"), setting=SETTING)
    document = keys.published().to_json()
    document["keys"][0]["alg"] = "sm2"
    answer = verify(issue(keys), PublishedKeys.from_json(document), now=NOW)
    assert answer.outcome is Outcome.UNKNOWN


def test_the_development_ring_parses_and_an_explicit_algorithm_is_accepted() -> None:
    keys = SigningKeys.parse(DEVELOPMENT_ELICENCE_SIGNING_KEYS, setting=SETTING)
    assert keys.current.key_id == "dev-elicence"
    material = base64.b64encode(os.urandom(32)).decode()
    assert SigningKeys.parse(f"k:ed25519:{material}", setting=SETTING).current.algorithm == (
        "ed25519"
    )


@pytest.mark.parametrize(
    "spec", ["k1", "k1:sm9:" + base64.b64encode(b"x" * 32).decode(), "k1:bm90LTMyLWJ5dGVz"]
)
def test_bad_rings_are_refused_without_the_secret(spec: str) -> None:
    with pytest.raises(SettingsRefused) as refused:
        SigningKeys.parse(spec, setting=SETTING)
    assert SETTING in str(refused.value)
    assert spec.partition(":")[2] not in str(refused.value) or not spec.partition(":")[2]


def test_the_token_is_found_in_a_verification_url() -> None:
    assert token_of(" abc.def ") == "abc.def"
    assert token_of("https://gov.example/v1/elicences/verification?t=abc.def") == "abc.def"
    assert token_of("https://gov.example/v1/elicences/verification") == ""
