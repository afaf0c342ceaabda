"""Signed checkpoints over chain heads: genuine only under a published key and unaltered,
and a chain rebuilt after one is contradicted by it."""

import base64
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.secrets import (
    DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS,
    SettingsRefused,
)
from onceonly.platform.testing import production_keys
from onceonly.tracking import chain, merkle
from onceonly.tracking.checkpoint import (
    AnchorState,
    CheckpointInvalid,
    CheckpointPayload,
    Coverage,
    Head,
    SignedCheckpoint,
    check_anchor,
    open_checkpoint,
    sign,
    slot_of,
    sorted_heads,
    tree_of,
)
from onceonly.tracking.checkpoints import CHECKPOINT_KEY, checkpoint_envelope, signed_of
from onceonly.tracking.recordable import unrecordable_reason
from onceonly.tracking.settings import TrackingSettings

KEYS = SigningKeys.parse(DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS, setting="TEST")
AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def other_keys(key_id: str = "dev-checkpoint") -> SigningKeys:
    return SigningKeys.parse(f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}", setting="T")


def timeline(code: str, n: int, *, word: str = "accepted") -> list[chain.ChainEntry]:
    entries: list[chain.ChainEntry] = []
    seq, head = 0, chain.GENESIS_HASH
    for i in range(n):
        entry = chain.next_entry(
            head_seq=seq,
            head_hash=head,
            application_code=code,
            event_id=f"{code}-{i}",
            ce_type="onceonly.events.v1.ApplicationAccepted",
            ce_source="/test",
            ce_time=AT + timedelta(minutes=i),
            data=f"{word}-{i}".encode(),
            shown=chain.Shown(
                summary={"type": word}, topic="t", partition=0, offset=i, recorded_at=AT
            ),
        )
        entries.append(entry)
        seq, head = entry.seq, entry.hash
    return entries


def checkpoint_of(chains: dict[str, list[chain.ChainEntry]], keys: SigningKeys = KEYS):
    heads = sorted_heads([Head(code, e[-1].seq, e[-1].hash) for code, e in chains.items()])
    payload, signed = sign(heads, signer=keys.current, number=7, slot=AT, made_at=AT)
    tree = tree_of(heads)
    coverages = {h.application_code: Coverage(h, tree.proof(i)) for i, h in enumerate(heads)}
    return payload, signed, coverages


def test_a_checkpoint_opens_under_its_published_key() -> None:
    chains = {code: timeline(code, 3) for code in ("B", "A", "C")}
    payload, signed, _ = checkpoint_of(chains)
    opened = open_checkpoint(signed, KEYS.published())
    assert opened == payload
    assert (opened.size, opened.number, opened.key_id) == (3, 7, "dev-checkpoint")
    assert SignedCheckpoint.from_json(signed.to_json()) == signed


def test_a_changed_byte_an_unknown_key_or_another_key_is_refused() -> None:
    _, signed, _ = checkpoint_of({"A": timeline("A", 2)})
    forged_root = signed.payload.replace(b'"root":"', b'"root":"0')[:-2] + b'"}'
    for changed in (
        SignedCheckpoint(forged_root, signed.signature),
        SignedCheckpoint(signed.payload.replace(b'"number":7', b'"number":8'), signed.signature),
        SignedCheckpoint(signed.payload, bytes([signed.signature[0] ^ 1]) + signed.signature[1:]),
        SignedCheckpoint(b"{}", signed.signature),
    ):
        with pytest.raises(CheckpointInvalid):
            open_checkpoint(changed, KEYS.published())
    with pytest.raises(CheckpointInvalid, match="not published"):
        open_checkpoint(signed, other_keys("elsewhere").published())
    # Same key id, another key: someone who wrote the database cannot sign for it.
    _, forged, _ = checkpoint_of({"A": timeline("A", 2)}, keys=other_keys())
    with pytest.raises(CheckpointInvalid, match="signature"):
        open_checkpoint(forged, KEYS.published())


def test_only_the_canonical_payload_is_accepted() -> None:
    payload, _, _ = checkpoint_of({"A": timeline("A", 1)})
    spaced = payload.canonical().replace(b",", b", ")
    with pytest.raises(ValueError, match="canonical"):
        CheckpointPayload.parse(spaced)


def test_a_chain_as_signed_is_anchored_and_later_entries_are_not_yet() -> None:
    entries = timeline("A", 5)
    payload, _, coverages = checkpoint_of({"A": entries[:3], "B": timeline("B", 2)})
    anchor = check_anchor(
        entries, application_code="A", checkpoint=payload, coverage=coverages["A"]
    )
    assert anchor.state is AnchorState.ANCHORED and anchor.anchored
    assert (anchor.anchored_seq, anchor.checkpoint_number) == (3, 7)
    assert "2 recorded after it" in anchor.reason


def test_a_chain_rebuilt_consistently_is_contradicted() -> None:
    entries = timeline("A", 4)
    payload, _, coverages = checkpoint_of({"A": entries})
    rebuilt = timeline("A", 4, word="refused")  # every link holds, every hash differs
    assert chain.verify(rebuilt) is None
    anchor = check_anchor(
        rebuilt, application_code="A", checkpoint=payload, coverage=coverages["A"]
    )
    assert anchor.state is AnchorState.CONTRADICTED
    assert anchor.broken_seq == 4
    shortened = check_anchor(
        entries[:2], application_code="A", checkpoint=payload, coverage=coverages["A"]
    )
    assert (shortened.state, shortened.broken_seq) == (AnchorState.CONTRADICTED, 3)


def test_not_covered_and_a_proof_of_another_tree() -> None:
    entries = timeline("A", 2)
    payload, _, coverages = checkpoint_of({"A": entries, "B": timeline("B", 1)})
    assert (
        check_anchor(entries, application_code="Z", checkpoint=payload, coverage=None).state
        is AnchorState.NOT_COVERED
    )
    other, _, _ = checkpoint_of({"A": entries, "C": timeline("C", 1)})
    anchor = check_anchor(entries, application_code="A", checkpoint=other, coverage=coverages["A"])
    assert anchor.state is AnchorState.UNVERIFIABLE
    swapped = check_anchor(
        timeline("B", 1), application_code="B", checkpoint=payload, coverage=coverages["A"]
    )
    assert swapped.state is AnchorState.UNVERIFIABLE


@given(st.lists(st.integers(1, 9), min_size=1, max_size=12), st.data())
def test_every_covered_chain_is_anchored(lengths: list[int], data: st.DataObject) -> None:
    chains = {f"C{i:03d}": timeline(f"C{i:03d}", n) for i, n in enumerate(lengths)}
    payload, _, coverages = checkpoint_of(chains)
    code = data.draw(st.sampled_from(sorted(chains)))
    coverage = Coverage.from_json(coverages[code].to_json())
    anchor = check_anchor(
        chains[code], application_code=code, checkpoint=payload, coverage=coverage
    )
    assert anchor.anchored
    # One leaf changed: that head no longer proves into the signed root.
    forged = Coverage(Head(code, coverage.head.seq, "f" * 64), coverage.proof)
    assert not merkle.verify_inclusion(
        forged.head.leaf(), forged.proof, bytes.fromhex(payload.root)
    )


def test_one_head_per_application_and_slots() -> None:
    with pytest.raises(ValueError):
        sorted_heads([Head("A", 1, "x"), Head("A", 2, "y")])
    assert slot_of(datetime(2026, 12, 5, 3, 0, 59, tzinfo=UTC), 60) == AT
    assert slot_of(datetime(2026, 12, 5, 3, 1, tzinfo=UTC), 60) == AT + timedelta(minutes=1)


def test_a_published_checkpoint_carries_its_signed_bytes_and_is_never_recorded() -> None:
    _, signed, _ = checkpoint_of({"A": timeline("A", 2)})
    envelope = checkpoint_envelope(signed)
    assert envelope.subject == CHECKPOINT_KEY
    assert envelope.id == checkpoint_envelope(signed).id  # whoever publishes it
    message = envelope.message()
    assert open_checkpoint(signed_of(message), KEYS.published()).number == 7
    # Should one reach a followed topic, it is parked, not put on a timeline.
    assert (
        unrecordable_reason(envelope, message) == "a timeline checkpoint is no application's event"
    )


def test_the_development_checkpoint_key_is_refused_outside_development() -> None:
    keys = production_keys()
    with pytest.raises(ValueError, match="TIMELINE_CHECKPOINT_SIGNING_KEYS is a published"):
        TrackingSettings(
            environment="production",
            **(
                keys
                | {"timeline_checkpoint_signing_keys": DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS}
            ),
        )
    # Without a key the API still starts (it verifies with published keys), the agent not.
    without = {k: v for k, v in keys.items() if k != "timeline_checkpoint_signing_keys"}
    settings = TrackingSettings(environment="production", **without)
    assert settings.checkpoint_public_keys() is None
    with pytest.raises(SettingsRefused, match="TIMELINE_CHECKPOINT_SIGNING_KEYS"):
        settings.checkpoint_signing_keys()
    ring = TrackingSettings(environment="production", **keys).checkpoint_signing_keys()
    assert ring.current.key_id == "prod-checkpoint-1"
    assert TrackingSettings(environment="development").checkpoint_public_keys() == KEYS.published()
