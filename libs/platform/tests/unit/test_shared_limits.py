"""The pure parts of the shared token bucket: how much a lease takes, how long to wait."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.platform.shared_limits import grant, wait_seconds


@pytest.mark.parametrize(
    ("tokens", "lease", "granted"),
    [(10.0, 3, 3), (2.7, 3, 2), (0.99, 3, 0), (-0.5, 3, 0), (1.0, 1, 1)],
)
def test_a_lease_takes_whole_tokens_up_to_its_size(tokens, lease, granted) -> None:
    assert grant(tokens, lease=lease) == granted


@given(st.floats(min_value=-5, max_value=100), st.integers(min_value=1, max_value=50))
def test_a_lease_never_overdraws(tokens: float, lease: int) -> None:
    granted = grant(tokens, lease=lease)
    assert 0 <= granted <= lease
    assert granted == 0 or tokens - granted >= 0


def test_the_wait_is_until_one_whole_token() -> None:
    assert wait_seconds(0.5, rate_per_second=2.0) == pytest.approx(0.25)
    assert wait_seconds(0.0, rate_per_second=0.1) == pytest.approx(10.0)
    assert wait_seconds(1.5, rate_per_second=1.0) == 0.0
