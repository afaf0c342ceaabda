"""The citizen progress lookup's secrets: the last four digits of the applicant's mobile
number, or a lookup token.

Only the mobile number's last four: an ID number's last four are what ID masks used to
show (on receipts, licences, screens), and accepting either doubled a guesser's chances.
Mobile masks (`1381234****`) hide exactly those four.

The last four are checked by opening the sealed mobile number with the PII key, not
against a stored hash of them: a hash of four digits is only as secret as its key, so it
would add a second copy of the data with the same protection, a second key to rotate,
and a backfill for applications submitted before it existed.

The lookup token is for links (the integrator's SMS or app link): an HMAC of the
application code, 128 bits, so it cannot be guessed the way four digits can. Its key is
derived from each PII key for this one purpose (as Temporal's payload keys are), so it
fails closed and rotates with `ONCEONLY_PII_KEYS`: the first key issues, every key
verifies; a token stops working when the PII key it was made under is removed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from onceonly.platform.pii import PiiError, PiiSealer, derived_pii_keys

LAST4 = re.compile(r"[0-9]{4}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
_TOKEN_PURPOSE = "onceonly progress lookup token v1"  # noqa: S105 (an HKDF label)


def last4_matches(
    sealer: PiiSealer, *, application_code: str, mobile_sealed: str, last4: str
) -> bool:
    """Whether `last4` ends the applicant's mobile number."""
    try:
        plain = sealer.open(mobile_sealed, context=f"{application_code}:mobile")
    except PiiError:
        return False
    # In constant time: the answer's timing tells nothing about how many digits matched.
    return hmac.compare_digest(plain[-4:].encode(), last4.encode())


class ProgressTokens:
    """Issues and verifies lookup tokens of application codes."""

    def __init__(self, pii_keys: str) -> None:
        self._keys = [key for _, key in derived_pii_keys(pii_keys, purpose=_TOKEN_PURPOSE)]

    @staticmethod
    def _token(key: bytes, application_code: str) -> str:
        digest = hmac.new(key, application_code.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def issue(self, application_code: str) -> str:
        """The token of `application_code` under the current key (22 characters)."""
        return self._token(self._keys[0], application_code)

    def verify(self, application_code: str, token: str) -> bool:
        """Whether `token` was issued for `application_code` under any listed key."""
        given = token.encode()
        matched = False
        for key in self._keys:  # every key, every time: timing tells nothing
            matched |= hmac.compare_digest(self._token(key, application_code).encode(), given)
        return matched
