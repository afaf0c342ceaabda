"""The citizen progress lookup: the application code and the last four characters of
the applicant's mobile number or identifier.

The last four are checked by opening the sealed mobile number and identifier with the
PII key, not against a stored hash of them: a hash of four digits is only as secret as
its key, so it would add a second copy of the data with the same protection, a second
key to rotate, and a backfill for applications submitted before it existed.
"""

from __future__ import annotations

import hmac
import re

from onceonly.platform.pii import PiiError, PiiSealer

LAST4 = re.compile(r"[0-9]{3}[0-9Xx]")


def last4_matches(
    sealer: PiiSealer,
    *,
    application_code: str,
    mobile_sealed: str,
    identifier_sealed: str,
    last4: str,
) -> bool:
    """Whether `last4` ends the mobile number or the identifier (X in either case)."""
    given = last4.upper().encode()
    matched = False
    for sealed, field in ((mobile_sealed, "mobile"), (identifier_sealed, "identifier")):
        try:
            plain = sealer.open(sealed, context=f"{application_code}:{field}")
        except PiiError:
            continue
        # Both compared every time, in constant time: the answer's timing tells nothing.
        matched |= hmac.compare_digest(plain[-4:].upper().encode(), given)
    return matched
