"""Offline verification of an exported timeline against an exported checkpoint, with the
published keys alone."""

import json

import pytest

from onceonly.tracking.checkpoint import Coverage, Head, sign, sorted_heads, tree_of
from onceonly.tracking.timeline_export import (
    Verdict,
    export_checkpoint,
    export_timeline,
    read_timeline,
    verify_offline,
)

from .test_checkpoint import AT, KEYS, other_keys, timeline


def exports(code: str, entries, *, anchored: int | None = None, keys=KEYS, covered: bool = True):
    """The JSON documents as files would hold them (through json text)."""
    heads = [Head(code, anchored or entries[-1].seq, entries[(anchored or len(entries)) - 1].hash)]
    heads += [Head("OTHER-1", 1, "a" * 64), Head("OTHER-2", 4, "b" * 64)]
    heads = sorted_heads(heads)
    _, signed = sign(heads, signer=keys.current, number=3, slot=AT, made_at=AT)
    tree = tree_of(heads)
    position = next(i for i, h in enumerate(heads) if h.application_code == code)
    coverage = Coverage(heads[position], tree.proof(position)) if covered else None
    timeline_doc = json.loads(json.dumps(export_timeline(code, entries), ensure_ascii=False))
    checkpoint_doc = json.loads(json.dumps(export_checkpoint(signed, coverage)))
    return timeline_doc, checkpoint_doc


def test_an_intact_timeline_is_intact_and_anchored_to_its_head() -> None:
    entries = timeline("A-1", 4)
    document, checkpoint = exports("A-1", entries, anchored=3)
    code, read = read_timeline(document)
    assert code == "A-1" and [e.hash for e in read] == [e.hash for e in entries]
    assert "sealed" not in json.dumps(document)  # the event bytes left as a digest only
    result = verify_offline(document, checkpoint, KEYS.published())
    assert (result.verdict, result.anchored_seq) == (Verdict.INTACT, 3)
    assert result.line().startswith("intact: entries 1-3 are anchored by checkpoint 3")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("summary", {"type": "rejected"}),
        ("time", "2026-12-01T00:00:00.000000+00:00"),
        ("data_sha256", "0" * 64),
        ("recorded_at", "2026-12-06T00:00:00.000000+00:00"),
    ],
)
def test_a_changed_field_is_tampering_at_its_entry(field: str, value) -> None:
    document, checkpoint = exports("A-1", timeline("A-1", 4))
    document["entries"][1][field] = value
    result = verify_offline(document, checkpoint, KEYS.published())
    assert (result.verdict, result.entry) == (Verdict.TAMPERED, 2)
    assert result.line().startswith("tampered at entry 2")


def test_a_timeline_rebuilt_whole_is_tampering_at_the_anchored_entry() -> None:
    _, checkpoint = exports("A-1", timeline("A-1", 4), anchored=3)
    rebuilt, _ = exports("A-1", timeline("A-1", 4, word="rejected"))
    result = verify_offline(rebuilt, checkpoint, KEYS.published())
    assert (result.verdict, result.entry) == (Verdict.TAMPERED, 3)


def test_not_covered_and_not_genuine() -> None:
    entries = timeline("A-1", 2)
    document, uncovered = exports("A-1", entries, covered=False)
    assert verify_offline(document, uncovered, KEYS.published()).verdict is Verdict.NOT_COVERED
    _, ahead = exports("A-1", timeline("A-1", 5))
    assert verify_offline(document, ahead, KEYS.published()).verdict is Verdict.NOT_COVERED
    _, forged = exports("A-1", entries, keys=other_keys())
    result = verify_offline(document, forged, KEYS.published())
    assert result.verdict is Verdict.NOT_GENUINE and "signature" in result.reason
    # Another application's proof does not cover this one.
    other_document, _ = exports("A-1", entries)
    _, other = exports("OTHER-3", timeline("OTHER-3", 1))
    assert verify_offline(other_document, other, KEYS.published()).verdict is Verdict.NOT_COVERED


def test_malformed_exports_are_named() -> None:
    document, checkpoint = exports("A-1", timeline("A-1", 2))
    del document["entries"][1]["hash"]
    with pytest.raises(ValueError, match="entry 2"):
        verify_offline(document, checkpoint, KEYS.published())
    intact, _ = exports("A-1", timeline("A-1", 2))
    with pytest.raises(ValueError, match="not a checkpoint export"):
        verify_offline(intact, {"format": "x"}, KEYS.published())
