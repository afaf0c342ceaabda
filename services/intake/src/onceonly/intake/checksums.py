"""Check characters of the national standards that identifiers and codes use."""

from __future__ import annotations

_MOD11_2_CHARS = "0123456789X"

# GB 32100-2015: the 31 characters a unified social credit code may contain (no I, O,
# S, V, Z), in value order, and the weights 3^i mod 31 of its first 17 positions.
GB32100_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_GB32100_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def iso7064_mod11_2(digits: str) -> str:
    """ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') over decimal digits.

    The same check as the last character of a resident ID number (GB 11643-1999).
    """
    total = 0
    for char in digits:
        if char not in "0123456789":
            raise ValueError(f"not a decimal digit: {char!r}")
        total = ((total + ord(char) - 48) * 2) % 11
    return _MOD11_2_CHARS[(12 - total) % 11]


def gb32100_check(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015)."""
    if len(first17) != 17:
        raise ValueError("a unified social credit code has 17 characters before its check")
    total = 0
    for char, weight in zip(first17, _GB32100_WEIGHTS, strict=True):
        value = GB32100_CHARSET.find(char)
        if value < 0:
            raise ValueError(f"not a GB 32100 character: {char!r}")
        total += value * weight
    return GB32100_CHARSET[(31 - total % 31) % 31]
