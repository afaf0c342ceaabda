"""Sealed personal data keeps its key id inside the value, so values sealed before keys
were separated by purpose, and under keys since rotated out of first place, still open."""

from __future__ import annotations

import pytest

from onceonly.platform.pii import PiiError, PiiSealer
from onceonly.platform.secrets import DEVELOPMENT_PII_KEY

# Sealed by the code of commit bb48762 (before this change), kept verbatim: stored rows
# and Kafka records hold values like these.
SEALED_BEFORE_WITH_DEVELOPMENT_KEY = "dev1:Vi9FDp15125-Zcu-gF3DRt8iyvcfWfkoou6Ii9bVmXKX9O2mTA=="
OPERATOR_KEY_2024 = "k2024:YW4tb3BlcmF0b3Ita2V5LW9mLTIwMjQtMzJieXRlcyE="
SEALED_BEFORE_WITH_2024_KEY = "k2024:HVaiwC1HVbRKp6lWP_nseNuAT8ab_PTA8TcnKVGOUfGCcYt6eG8A"
KEY_2026 = "k2026:" + "MjAyNi1rZXktb2YtdGhlLW9wZXJhdG9yLTMyYnl0ZXM="


def test_values_sealed_before_the_change_still_open() -> None:
    development = PiiSealer(DEVELOPMENT_PII_KEY)
    opened = development.open(
        SEALED_BEFORE_WITH_DEVELOPMENT_KEY, context="330100-20250101-000001A:name"
    )
    assert opened == "张三丰"
    rotated = PiiSealer(f"{KEY_2026},{OPERATOR_KEY_2024}")
    mobile = rotated.open(SEALED_BEFORE_WITH_2024_KEY, context="330100-20240101-000007K:mobile")
    assert mobile == "13812345678"


def test_the_first_key_seals_and_its_id_is_inside_the_value() -> None:
    rotated = PiiSealer(f"{KEY_2026},{OPERATOR_KEY_2024}")
    assert rotated.primary_key_id == "k2026"
    sealed = rotated.seal("13812345678", context="c")
    assert sealed.startswith("k2026:")
    resealed = rotated.reseal(SEALED_BEFORE_WITH_2024_KEY, context="330100-20240101-000007K:mobile")
    assert resealed.startswith("k2026:")
    assert PiiSealer(KEY_2026).open(resealed, context="330100-20240101-000007K:mobile") == (
        "13812345678"
    )


def test_a_retired_key_or_another_context_does_not_open() -> None:
    with pytest.raises(PiiError, match="no key 'k2024'"):
        PiiSealer(KEY_2026).open(SEALED_BEFORE_WITH_2024_KEY, context="x")
    with pytest.raises(PiiError, match="does not open"):
        PiiSealer(OPERATOR_KEY_2024).open(SEALED_BEFORE_WITH_2024_KEY, context="another:mobile")


def test_a_name_mask_tells_nothing_of_the_names_length() -> None:
    from onceonly.platform.pii import mask_name

    assert mask_name("张伟") == mask_name("张三丰") == mask_name("张") == "张**"
    assert mask_name("司马相如") == "司**"
    assert mask_name("") == ""
