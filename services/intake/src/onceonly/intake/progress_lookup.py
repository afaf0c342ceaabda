"""The citizen progress lookup: a code with the mobile's last four or a lookup token,
guarded by the per-code lockout and the global budget of failures (`lockout.py`)."""

from __future__ import annotations

from onceonly.intake import metrics
from onceonly.intake.errors import LookupsLimited
from onceonly.intake.lockout import global_wait
from onceonly.intake.lockout_store import LockoutStore
from onceonly.intake.progress import ProgressTokens, last4_matches
from onceonly.intake.store import ApplicationStore, ProgressRow
from onceonly.platform.pii import PiiSealer


class ProgressLookup:
    def __init__(
        self,
        *,
        store: ApplicationStore,
        sealer: PiiSealer,
        tokens: ProgressTokens,
        lockout: LockoutStore,
        failures_per_minute: int,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._tokens = tokens
        self._lockout = lockout
        self._per_minute = failures_per_minute

    async def by_last4(self, *, code: str, last4: str) -> ProgressRow | None:
        """The application when `last4` ends its applicant's mobile number and the code
        is not locked; None alike for an unknown code, wrong digits and a locked code
        (no oracle). Raises LookupsLimited when the minute's failures are spent."""
        guard = await self._lockout.guard(code)
        wait = global_wait(guard.failures_this_minute, now=guard.now, per_minute=self._per_minute)
        if wait is not None:
            metrics.RATE_LIMITED.labels("progress_global").inc()
            raise LookupsLimited(wait)
        row = await self._store.progress(code)
        matched = row is not None and last4_matches(
            self._sealer,
            application_code=code,
            mobile_sealed=row.mobile_sealed,
            last4=last4,
        )
        if not matched:
            metrics.PROGRESS_REFUSED.labels("no_match").inc()
            await self._lockout.record_failure(code)
            return None
        if guard.locked:
            metrics.PROGRESS_REFUSED.labels("locked").inc()
            return None
        return row

    async def by_token(self, *, code: str, token: str) -> ProgressRow | None:
        """The application when `token` is the code's lookup token. A right token opens
        even a locked code (the lock guards four digits, not 128 bits); a wrong one
        counts as a failure like wrong digits."""
        if not self._tokens.verify(code, token):
            metrics.PROGRESS_REFUSED.labels("no_match").inc()
            await self._lockout.record_failure(code)
            return None
        return await self._store.progress(code)
