"""The notify drain's progress, read from notify's own count of handled events."""

from __future__ import annotations

from prometheus_client import generate_latest

from bench.notify_drain import handled_in
from onceonly.platform.metrics import ConsumerCounters


def test_the_drain_reads_notifys_handled_events_from_its_metrics() -> None:
    # The metric notify's consumer really exposes, not a copy of its name.
    before = handled_in(generate_latest().decode())
    ConsumerCounters.of("notify").handled.inc(3)
    ConsumerCounters.of("tracking").handled.inc(5)  # another consumer's count is not notify's
    assert handled_in(generate_latest().decode()) == before + 3


def test_no_handled_events_before_notifys_first() -> None:
    assert handled_in("") == 0
    assert handled_in('onceonly_events_handled_total{consumer="relay"} 9.0\n') == 0
