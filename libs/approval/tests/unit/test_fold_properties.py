"""Properties of the fold on random event streams of one application.

Forward only: whatever comes next, and in particular an older event replayed after
newer ones, never moves an application to a lower rank, never changes a finished
application or a finished task, and never moves the last event time back. Repeating the
event just folded changes nothing (a redelivery the services did not catch as such).
Within one rank (a supplement request, then acceptance) the fold follows the order it is
given; the services recognise replays by event id before they fold.
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce

from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from onceonly.approval import ApprovalStatus, fold
from onceonly.approval.testing import streams, timed_events


def folded(stream: list[tuple[Message, datetime]]) -> ApprovalStatus:
    return reduce(lambda status, step: fold(status, step[0], at=step[1]), stream, ApprovalStatus())


def assert_forward(before: ApprovalStatus, after: ApprovalStatus) -> None:
    assert after.state.rank >= before.state.rank
    if before.finished:
        assert (after.state, after.reason, after.clock, after.elicence_number) == (
            before.state,
            before.reason,
            before.clock,
            before.elicence_number,
        )
        assert after.missing_materials == before.missing_materials
    for department, task in before.tasks.items():
        if task.finished:
            assert after.tasks[department] == task
    assert set(after.tasks) >= set(before.tasks)
    assert after.last_event_at is not None
    assert before.last_event_at is None or after.last_event_at >= before.last_event_at


@settings(max_examples=200, deadline=None)
@given(streams, timed_events)
def test_no_event_moves_the_status_back(stream, step) -> None:
    before = folded(stream)
    assert_forward(before, fold(before, step[0], at=step[1]))


@settings(max_examples=200, deadline=None)
@given(streams.filter(bool), st.data())
def test_an_older_event_replayed_undoes_nothing_newer(stream, data) -> None:
    status = folded(stream)
    replayed = data.draw(st.sampled_from(stream))
    again = fold(status, replayed[0], at=replayed[1])
    assert_forward(status, again)
    assert again.last_event_at == status.last_event_at


@settings(max_examples=200, deadline=None)
@given(streams, timed_events)
def test_an_event_folded_twice_counts_once(stream, step) -> None:
    once = fold(folded(stream), step[0], at=step[1])
    assert fold(once, step[0], at=step[1]) == once


@settings(max_examples=200, deadline=None)
@given(streams)
def test_a_stream_deduplicated_by_event_id_folds_as_the_stream(stream) -> None:
    # Each event delivered once more right after itself, as a redelivery would be;
    # dropping the copies by id (what the services do) and not dropping them agree.
    delivered = [(event_id, step) for event_id, step in enumerate(stream) for _ in range(2)]
    deduplicated = list(dict(delivered).values())
    assert folded(deduplicated) == folded(stream) == folded([step for _, step in delivered])
