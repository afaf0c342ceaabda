"""SMS encodings and segment counts, as carriers bill them."""

from __future__ import annotations

import pytest

from onceonly.notify.sms import SmsEncoding, encoding_of, measure, segment_count


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_chinese_is_ucs2_70_in_one_sms_then_67_per_segment(length: int, segments: int) -> None:
    text = "办" * length
    assert measure(text).encoding is SmsEncoding.UCS2
    assert measure(text).units == length
    assert segment_count(text) == segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_plain_ascii_is_gsm7_160_in_one_sms_then_153_per_segment(
    length: int, segments: int
) -> None:
    text = "a" * length
    assert measure(text).encoding is SmsEncoding.GSM7
    assert segment_count(text) == segments


def test_one_chinese_character_turns_a_long_english_text_into_ucs2() -> None:
    english = "Your application HZ-1 is accepted. " * 2  # 70 characters
    assert segment_count(english) == 1
    assert encoding_of(english + "办") is SmsEncoding.UCS2
    assert segment_count(english + "办") == 2  # 71 UCS-2 units


def test_gsm7_extension_characters_cost_two_septets() -> None:
    assert measure("{}").units == 4
    assert segment_count("a" * 158 + "€") == 1  # 160 septets
    assert segment_count("a" * 159 + "€") == 2  # 161 septets


def test_an_escape_pair_is_never_split_across_segments() -> None:
    # 152 septets, then a two-septet character that would straddle the 153 boundary.
    text = "a" * 152 + "[" + "a" * 10
    assert measure(text).units == 164
    assert segment_count(text) == 2
    text = "a" * 152 + "[" + "a" * 152  # 306 septets, but the "[" moves to segment 2
    assert measure(text).units == 306
    assert segment_count(text) == 3


def test_characters_outside_the_bmp_take_a_surrogate_pair() -> None:
    assert measure("😀").units == 2
    assert segment_count("办" * 68 + "😀") == 1  # 70 units
    assert segment_count("办" * 69 + "😀") == 2  # 71 units
    # 66 units, then a pair that would straddle the 67 boundary moves to segment 2.
    assert segment_count("办" * 66 + "😀" + "办" * 65) == 2  # 66 | 2 + 65
    # 134 units would fit 2 × 67 if the pair could be split; it cannot.
    assert measure("办" * 66 + "😀" + "办" * 66).units == 134
    assert segment_count("办" * 66 + "😀" + "办" * 66) == 3


def test_ascii_outside_the_gsm_alphabet_forces_ucs2() -> None:
    assert encoding_of("price `5`") is SmsEncoding.UCS2
    assert encoding_of("Café £5 @ 10:00") is SmsEncoding.GSM7


def test_the_chinese_signature_bracket_is_ucs2() -> None:
    assert encoding_of("【政务服务】") is SmsEncoding.UCS2


def test_an_empty_text_is_one_message() -> None:
    assert measure("").units == 0
    assert segment_count("") == 1
