"""Online e-licence verification (电子证照核验): the signature with the published keys,
then intake's own record of the licence (followed from the approval events): unknown
when intake never saw it issued, revoked once `ELicenceRevoked` arrived.

The answer shows only what the licence itself shows (its number, type, masked holder,
issuing region, dates, key id), taken from the signed payload; never the application's
other data, and not the revocation's reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from onceonly.approval import ApprovalStatus
from onceonly.platform.elicence_signatures import (
    Outcome,
    PublishedKeys,
    Verification,
    token_of,
    verify,
)

PREFIX = "EL-"

StateOf = Callable[[str], Awaitable[ApprovalStatus | None]]


async def verify_online(
    scanned: str, keys: PublishedKeys, *, state_of: StateOf, now: datetime
) -> Verification:
    """Genuine, revoked, expired or unknown, for a token or a QR code's URL."""
    token = token_of(scanned)
    checked = verify(token, keys, now=now)
    if checked.outcome is Outcome.UNKNOWN or checked.licence is None:
        return checked
    number = checked.licence.number
    # Numbers are `EL-<application code>` (elicences.py in the workflow).
    status = await state_of(number.removeprefix(PREFIX)) if number.startswith(PREFIX) else None
    if status is None or status.elicence_number != number:
        return Verification(Outcome.UNKNOWN, "no e-licence of this number on record")
    if status.elicence_revoked_at is not None:
        return verify(token, keys, now=now, revoked=[number])
    return checked
