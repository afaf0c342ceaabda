"""The integrators' centres intake keeps for a few seconds instead of reading them for
every submission."""

from __future__ import annotations

from onceonly.intake.store import Centre, CentreCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_centre_read_within_the_seconds_is_kept() -> None:
    clock = Clock()
    cache = CentreCache(seconds=5.0, clock=clock)
    cache.put("int-1", "330106")
    clock.now += 4.9
    assert cache.get("int-1") == Centre("330106")


def test_no_centre_of_its_own_is_kept_too() -> None:
    cache = CentreCache(seconds=5.0, clock=Clock())
    cache.put("int-1", None)
    assert cache.get("int-1") == Centre(None)


def test_after_the_seconds_the_centre_is_read_again() -> None:
    clock = Clock()
    cache = CentreCache(seconds=5.0, clock=clock)
    cache.put("int-1", "330106")
    clock.now += 5.0
    assert cache.get("int-1") is None
    assert cache.get("int-2") is None


def test_it_stays_bounded() -> None:
    cache = CentreCache(seconds=5.0, max_entries=2, clock=Clock())
    for n in range(3):
        cache.put(f"int-{n}", None)
    assert cache.get("int-2") == Centre(None)
    assert cache.get("int-0") is None
