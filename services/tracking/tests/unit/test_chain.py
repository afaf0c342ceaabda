import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from onceonly.tracking.chain import (
    GENESIS_HASH,
    ChainEntry,
    canonical_time,
    entry_hash,
    next_entry,
    verify,
)

T0 = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def build(count: int, code: str = "BS-20250303-0001") -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    head_seq, head_hash = 0, GENESIS_HASH
    for index in range(count):
        entry = next_entry(
            head_seq=head_seq,
            head_hash=head_hash,
            application_code=code,
            event_id=f"00000000-0000-4000-8000-{index:012d}",
            ce_type="onceonly.events.v1.TaskStarted",
            ce_source="/onceonly/workflow",
            ce_time=T0 + timedelta(minutes=index),
            data=bytes([index % 256]) * (index + 1),
        )
        entries.append(entry)
        head_seq, head_hash = entry.seq, entry.hash
    return entries


def head_of(entries: list[ChainEntry]) -> tuple[int, str]:
    return (entries[-1].seq, entries[-1].hash) if entries else (0, GENESIS_HASH)


def test_a_fresh_chain_is_intact_and_numbered_from_one() -> None:
    entries = build(5)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert verify(entries, head=head_of(entries)) is None
    assert verify([], head=(0, GENESIS_HASH)) is None


def test_hash_is_sha256_hex() -> None:
    digest = build(1)[0].hash
    assert len(digest) == 64
    int(digest, 16)


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    beijing = timezone(timedelta(hours=8))
    kwargs = dict(
        prev_hash=GENESIS_HASH,
        seq=1,
        event_id="e",
        ce_type="t",
        ce_source="s",
        application_code="A",
        data=b"x",
    )
    assert entry_hash(ce_time=T0, **kwargs) == entry_hash(ce_time=T0.astimezone(beijing), **kwargs)
    assert entry_hash(ce_time=T0.replace(tzinfo=None), **kwargs) == entry_hash(ce_time=T0, **kwargs)
    assert canonical_time(T0) == "2025-03-03T09:30:00.000000+00:00"


def test_field_borders_are_unambiguous() -> None:
    common = dict(prev_hash=GENESIS_HASH, seq=1, ce_time=T0, application_code="A", data=b"")
    assert entry_hash(event_id="ab", ce_type="c", ce_source="s", **common) != entry_hash(
        event_id="a", ce_type="bc", ce_source="s", **common
    )


def test_a_changed_entry_is_reported_at_its_seq() -> None:
    entries = build(6)
    entries[3] = replace(entries[3], data=b"forged")
    broken = verify(entries, head=head_of(entries))
    assert broken is not None
    assert broken.seq == 4
    assert "content" in broken.reason


def test_a_rehashed_forgery_breaks_the_next_link() -> None:
    entries = build(6)
    forged = replace(entries[2], ce_source="/elsewhere")
    forged = replace(forged, hash=entry_hash(**_hash_fields(forged)))
    entries[2] = forged
    broken = verify(entries, head=head_of(entries))
    assert broken is not None
    assert broken.seq == 4
    assert "previous hash" in broken.reason


def test_a_removed_entry_is_reported_missing() -> None:
    entries = build(5)
    head = head_of(entries)
    del entries[2]
    broken = verify(entries, head=head)
    assert broken is not None
    assert broken.seq == 3
    assert "missing" in broken.reason


def test_removing_the_newest_entries_is_caught_by_the_head() -> None:
    entries = build(5)
    head = head_of(entries)
    assert verify(entries[:3]) is None  # consistent on its own ...
    broken = verify(entries[:3], head=head)  # ... but not with the recorded head
    assert broken is not None
    assert broken.seq == 4


def test_entries_beyond_the_head_and_a_wrong_head_hash_are_breaks() -> None:
    entries = build(4)
    beyond = verify(entries, head=(3, entries[2].hash))
    assert beyond is not None and beyond.seq == 4
    wrong = verify(entries, head=(4, "f" * 64))
    assert wrong is not None and wrong.seq == 4


def test_swapped_entries_are_out_of_order() -> None:
    entries = build(4)
    entries[1], entries[2] = entries[2], entries[1]
    broken = verify(entries, head=head_of(entries))
    assert broken is not None
    assert broken.seq == 2


def test_an_entry_of_another_application_is_a_break() -> None:
    mine, theirs = build(3, "A-1"), build(3, "B-2")
    broken = verify([mine[0], theirs[1], mine[2]])
    assert broken is not None
    assert broken.seq == 2


def _hash_fields(entry: ChainEntry) -> dict[str, object]:
    return dict(
        prev_hash=entry.prev_hash,
        seq=entry.seq,
        event_id=entry.event_id,
        ce_type=entry.ce_type,
        ce_source=entry.ce_source,
        ce_time=entry.ce_time,
        application_code=entry.application_code,
        data=entry.data,
    )


_texts = st.text(min_size=0, max_size=40)
_CHANGES = {
    "application_code": _texts,
    "seq": st.integers(min_value=-5, max_value=10_000),
    "event_id": _texts,
    "ce_type": _texts,
    "ce_source": _texts,
    "ce_time": st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    "data": st.binary(max_size=64),
    "prev_hash": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    "hash": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
}


@st.composite
def single_field_change(draw: st.DrawFn) -> tuple[int, list[ChainEntry], int]:
    size = draw(st.integers(min_value=1, max_value=8))
    entries = build(size)
    index = draw(st.integers(min_value=0, max_value=size - 1))
    name = draw(st.sampled_from(sorted(_CHANGES)))
    original = getattr(entries[index], name)
    value = draw(_CHANGES[name].filter(lambda v: _differs(v, original)))
    entries[index] = replace(entries[index], **{name: value})
    return size, entries, index


def _differs(value: object, original: object) -> bool:
    if isinstance(value, datetime) and isinstance(original, datetime):
        return canonical_time(value) != canonical_time(original)
    return value != original


@given(single_field_change())
def test_any_single_field_change_is_detected_at_or_before_that_entry(
    case: tuple[int, list[ChainEntry], int],
) -> None:
    size, entries, index = case
    original = build(size)
    broken = verify(entries, head=head_of(original))
    assert broken is not None
    assert broken.seq <= index + 1


@given(single_field_change())
def test_any_single_field_change_is_detected_even_without_the_head(
    case: tuple[int, list[ChainEntry], int],
) -> None:
    _, entries, index = case
    broken = verify(entries)
    assert broken is not None
    assert broken.seq <= index + 1


def test_version_2_covers_what_the_reader_is_shown() -> None:
    from datetime import UTC, datetime

    from onceonly.tracking import chain

    shown = chain.Shown(
        summary={"type": "TaskDecided", "department_code": "tax"},
        topic="onceonly.approval-events.v1",
        partition=1,
        offset=42,
        recorded_at=datetime(2026, 12, 5, 1, 0, tzinfo=UTC),
    )
    common = {
        "head_seq": 0,
        "head_hash": chain.GENESIS_HASH,
        "application_code": "330100-2026-000001",
        "event_id": "e-1",
        "ce_type": "onceonly.events.v1.TaskDecided",
        "ce_source": "/onceonly/workflow",
        "ce_time": datetime(2026, 12, 5, 0, 59, tzinfo=UTC),
        "data": b"\x0a\x01x",
    }
    entry = chain.next_entry(**common, shown=shown)
    assert entry.version == chain.CURRENT_VERSION == 2
    assert chain.verify([entry]) is None
    # The same summary in another key order is the same entry (jsonb reorders keys).
    reordered = replace(shown, summary={"department_code": "tax", "type": "TaskDecided"})
    assert chain.recompute(replace(entry, shown=reordered)) == entry.hash
    for changed in (
        replace(shown, summary={**shown.summary, "department_code": "public-security"}),
        replace(shown, topic="other"),
        replace(shown, partition=2),
        replace(shown, offset=43),
        replace(shown, recorded_at=datetime(2026, 12, 5, 1, 0, 1, tzinfo=UTC)),
    ):
        broken = chain.verify([replace(entry, shown=changed)])
        assert broken is not None and broken.seq == 1
    # Version 1 (rows written before) ignores what is shown, and still verifies.
    old = chain.next_entry(**common)
    assert old.version == 1 and chain.verify([replace(old, shown=shown)]) is None


def test_a_summary_text_given_hashes_as_the_summary_encoded() -> None:
    from onceonly.tracking import chain

    summary = {"type": "TaskDecided", "reason": "缺照片", "tasks": [{"b": 1, "a": None}]}
    shown = chain.Shown(
        summary=summary,
        topic="onceonly.approval-events.v1",
        partition=0,
        offset=7,
        recorded_at=T0,
    )
    common = {
        "head_seq": 3,
        "head_hash": "ab" * 32,
        "application_code": "330100-2026-000001",
        "event_id": "e-4",
        "ce_type": "onceonly.events.v1.TaskDecided",
        "ce_source": "/onceonly/workflow",
        "ce_time": T0,
        "data": b"x",
        "shown": shown,
    }
    text = chain.canonical_summary(summary)
    assert text == '{"reason":"缺照片","tasks":[{"a":null,"b":1}],"type":"TaskDecided"}'
    given_text = chain.next_entry(**common, summary_text=text)
    assert given_text == chain.next_entry(**common)
    assert chain.recompute(given_text) == given_text.hash
    # The text is what is hashed: another one is another entry.
    assert chain.next_entry(**common, summary_text="{}").hash != given_text.hash
