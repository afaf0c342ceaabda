"""The secrets of the citizen progress lookup: the mobile's last four, the lookup token."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from onceonly.intake.progress import LAST4, TOKEN, ProgressTokens, last4_matches
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

CODE = "330100-20250303-0004276"
OTHER = "330100-20250303-0000019"
SEALER = PiiSealer(DEVELOPMENT_PII_KEY)
NEW_KEY = "k2026b:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="


def matches(last4: str, *, code: str = CODE, sealed_for: str = CODE) -> bool:
    return last4_matches(
        SEALER,
        application_code=code,
        mobile_sealed=SEALER.seal("13812345678", context=f"{sealed_for}:mobile"),
        last4=last4,
    )


def test_the_last_four_of_the_mobile_match() -> None:
    assert matches("5678")


@pytest.mark.parametrize("last4", ["0000", "1234", "5679", "002X", "002x", ""])
def test_other_digits_do_not(last4: str) -> None:
    # The ID number's last four (002X) no longer open the lookup.
    assert not matches(last4)


def test_values_sealed_for_another_application_never_match() -> None:
    # A sealed value copied from another application does not open under this code.
    assert not matches("5678", sealed_for=OTHER)


def test_a_value_sealed_with_an_unknown_key_does_not_match() -> None:
    assert not last4_matches(SEALER, application_code=CODE, mobile_sealed="gone:AAAA", last4="5678")


@pytest.mark.parametrize(
    ("value", "valid"), [("5678", True), ("002X", False), ("X002", False), ("12a4", False)]
)
def test_the_format_of_last4(value: str, valid: bool) -> None:
    assert bool(LAST4.fullmatch(value)) is valid


def test_a_token_opens_its_own_code_only() -> None:
    tokens = ProgressTokens(DEVELOPMENT_PII_KEY)
    token = tokens.issue(CODE)
    assert TOKEN.fullmatch(token)
    assert tokens.issue(CODE) == token  # derived, not stored: a replayed receipt has it
    assert tokens.verify(CODE, token)
    assert not tokens.verify(OTHER, token)
    assert not tokens.verify(CODE, tokens.issue(OTHER))
    assert not tokens.verify(CODE, token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_tokens_rotate_with_the_pii_keys() -> None:
    old = ProgressTokens(DEVELOPMENT_PII_KEY)
    both = ProgressTokens(f"{NEW_KEY},{DEVELOPMENT_PII_KEY}")
    only_new = ProgressTokens(NEW_KEY)
    issued_before = old.issue(CODE)
    # The new key issues; a token of the old key works while the old key is listed.
    assert both.issue(CODE) != issued_before
    assert both.verify(CODE, issued_before) and both.verify(CODE, both.issue(CODE))
    assert not only_new.verify(CODE, issued_before)


def test_the_token_key_is_not_the_pii_key_itself() -> None:
    # Derived for this one purpose: a token is no function an attacker could get from
    # the sealing key's other uses.
    raw = base64.b64decode(DEVELOPMENT_PII_KEY.partition(":")[2])
    plain = hmac.new(raw, CODE.encode(), hashlib.sha256).digest()[:16]
    assert ProgressTokens(DEVELOPMENT_PII_KEY).issue(CODE) != (
        base64.urlsafe_b64encode(plain).decode().rstrip("=")
    )
