"""Pure statistics for the benchmarks: percentiles, latency summaries, rates, ratios."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (the
    method numpy calls "linear"). Raises ValueError on no values or q out of range."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be within 0..100, not {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    weight = position - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * weight)


@dataclass(frozen=True, slots=True)
class Summary:
    """A latency distribution in milliseconds (None fields when there were no samples)."""

    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def summarize(seconds: Iterable[float]) -> Summary:
    """Summarise durations given in seconds as milliseconds, rounded to 0.1 ms."""
    values = [s * 1000.0 for s in seconds]
    if not values:
        return Summary(0, None, None, None, None, None)

    def r(x: float) -> float:
        return round(x, 1)

    return Summary(
        count=len(values),
        p50_ms=r(percentile(values, 50)),
        p90_ms=r(percentile(values, 90)),
        p99_ms=r(percentile(values, 99)),
        max_ms=r(max(values)),
        mean_ms=r(sum(values) / len(values)),
    )


def per_second(count: int, seconds: float) -> float:
    """A rate, 0 when no time passed (never a division by zero)."""
    return round(count / seconds, 1) if seconds > 0 else 0.0


def ratio(system: float | None, raw: float | None) -> float | None:
    """system / raw rounded to 3 places; None when either is missing or raw is 0."""
    if system is None or raw is None or raw == 0:
        return None
    return round(system / raw, 3)


def rate_over_time(stamps: Sequence[float], *, trim: float = 0.05) -> float:
    """Events per second over the middle of a series of timestamps (seconds).

    The first and last `trim` share of events are left out, so a slow start (warm-up)
    or a straggling end does not hide the steady rate. 0 with fewer than 3 events.
    """
    if len(stamps) < 3:
        return 0.0
    ordered = sorted(stamps)
    cut = int(len(ordered) * trim)
    middle = ordered[cut : len(ordered) - cut] if cut else ordered
    span = middle[-1] - middle[0]
    return per_second(len(middle) - 1, span)


def progress_rate(
    samples: Sequence[tuple[float, int]], total: int, *, trim: float = 0.05
) -> float | None:
    """Items/s from (time, items done so far) samples, between the first samples that
    reached `trim` and `1 - trim` of `total` (a slow start or a straggling end left
    out); None (not measured) when the samples do not span that range: a rate of 0
    would read as a consumer that did nothing."""
    low = next((s for s in samples if s[1] >= total * trim), None)
    high = next((s for s in samples if s[1] >= total * (1 - trim)), None)
    if total <= 0 or low is None or high is None or high[0] <= low[0]:
        return None
    return per_second(high[1] - low[1], high[0] - low[0])
