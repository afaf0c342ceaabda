"""Live counters: the per-department change of each step, and counting each message once."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from onceonly.events.v1 import supervision_pb2
from onceonly.tracking import counters
from onceonly.tracking.status import ApplicationStatus, apply_event

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def steps(code: str, messages) -> list[dict[str, dict[str, int]]]:
    """The deltas of each message folded in order."""
    state: ApplicationStatus | None = None
    found = []
    for index, message in enumerate(messages):
        after = apply_event(
            state, application_code=code, message=message, time=T0 + timedelta(minutes=index)
        )
        found.append(counters.deltas(state, after))
        state = after
    return found


def test_a_task_counts_once_started_alerted_and_completed(events) -> None:
    code = events.code()
    supplement = 3
    found = steps(
        code,
        [
            events.submitted(code),
            events.task_started(code),
            events.alert(code, level=2, raised_at=T0 + timedelta(minutes=2)),
            events.alert(code, level=3, raised_at=T0 + timedelta(minutes=3)),
            events.task_decided(code, outcome=supplement),
            events.task_started(code),  # resumed: not started again
            events.task_decided(code),
        ],
    )
    assert found == [
        {},
        {"public-security": {"started": 1}},
        {"public-security": {"open_yellow": 1}},
        {"public-security": {"open_yellow": -1, "open_red": 1}},
        {"public-security": {"open_red": -1}},
        {},
        {"public-security": {"completed": 1}},
    ]


def test_a_legal_alert_moves_a_task_from_open_red_to_open_legal(events) -> None:
    code = events.code()
    legal = supervision_pb2.SUPERVISION_LEVEL_LEGAL
    found = steps(
        code,
        [
            events.task_started(code),
            events.alert(code, level=3, raised_at=T0 + timedelta(minutes=3)),
            events.alert(code, level=legal, raised_at=T0 + timedelta(minutes=4)),
            events.alert(code, level=legal, escalation=1, raised_at=T0 + timedelta(minutes=5)),
            events.task_decided(code),
        ],
    )
    assert found[1:] == [
        {"public-security": {"open_red": 1}},
        {"public-security": {"open_red": -1, "open_legal": 1}},
        {},
        {"public-security": {"open_legal": -1, "completed": 1}},
    ]


def test_a_finished_application_closes_its_open_alerts(events) -> None:
    code = events.code()
    found = steps(
        code,
        [
            events.task_started(code, "a"),
            events.task_started(code, "b"),
            events.alert(code, department="a", level=3),
            events.completed(code),
        ],
    )
    assert found[-1] == {"a": {"open_red": -1}}
    total: dict[str, int] = {}
    for step in found:
        for change in step.values():
            for name, value in change.items():
                total[name] = total.get(name, 0) + value
    assert total == {"started": 2, "open_red": 0}


def test_a_message_is_counted_once_per_key_and_keys_sum_per_department() -> None:
    first = counters.counted(None, 5, {"started": 1})
    assert first == {"offset": 5, "counts": {"started": 1}}
    assert counters.counted(first, 5, {"started": 1}) is None  # redelivered
    assert counters.counted(first, 4, {"started": 1}) is None
    second = counters.counted(first, 9, {"started": 1, "open_red": 1})
    assert second == {"offset": 9, "counts": {"started": 2, "open_red": 1}}
    other = counters.counted(None, 2, {"completed": 1})
    assert other is not None
    keys = [
        (counters.table_key("p.approval-events.v1", 0, "dep|x"), second),
        (counters.table_key("p.supervision-alerts.v1", 0, "dep|x"), other),
        (counters.table_key("p.approval-events.v1", 1, "a"), other),
    ]
    assert counters.department_of(keys[0][0]) == "dep|x"
    assert counters.totals(keys) == {
        "a": {"started": 0, "completed": 1, "open_yellow": 0, "open_red": 0, "open_legal": 0},
        "dep|x": {"started": 2, "completed": 1, "open_yellow": 0, "open_red": 1, "open_legal": 0},
    }


_KEYS = st.sampled_from(["t|0|a", "t|0|b", "t|0|c"])
_CHANGES = st.dictionaries(st.sampled_from(counters.COUNTERS), st.integers(-2, 2), max_size=3)


@given(
    before=st.dictionaries(
        _KEYS,
        st.builds(
            lambda offset, counts: {"offset": offset, "counts": counts},
            st.integers(0, 30),
            _CHANGES,
        ),
    ),
    steps=st.lists(st.tuples(_KEYS, st.integers(0, 40), _CHANGES), max_size=25),
)
def test_a_run_leaves_each_key_as_counting_message_after_message_would(before, steps) -> None:
    steps = sorted(steps, key=lambda step: step[1])  # a run is in offset order
    one_by_one = dict(before)
    for key, offset, change in steps:
        value = counters.counted(one_by_one.get(key), offset, change)
        if value is not None:
            one_by_one[key] = value
    updated = counters.counted_run(before.get, steps)
    assert {**before, **updated} == one_by_one
    # Only keys a message changed are written, each once.
    assert set(updated) == {key for key in one_by_one if one_by_one[key] is not before.get(key)}
