"""The JointApproval's versions (`workflow.patched`) and how it runs its short activities.

Every change that affects running workflows gets a patch name here, and a recorded
history in tests/workflows/histories that replays with and without it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

T = TypeVar("T")

# E-supervision timers came after the first release. Histories recorded before it have
# no marker and replay without timers.
SUPERVISION_PATCH = "e-supervision-timers"
# Shared-data checks (数据共享) and auto-approval (秒批) came after the first release too.
SHARED_DATA_PATCH = "shared-data-checks"
# Acceptance with deficiency (容缺受理) refuses the application when the deficient items
# have not arrived within their own deadline (rule 4).
DEFICIENCY_PATCH = "deficiency-deadline"
# Resolving the matter, the shared-data checks, the deadlines and event publishing run as
# local activities: in the worker, inside the workflow task, instead of a round trip
# through Temporal's task queues each. Histories from before replay them as regular
# activities.
LOCAL_ACTIVITIES_PATCH = "local-activities"
# Publishing, second version: the acceptance, its tasks' starts and an auto-approval's
# decisions go out in one local activity, and event ids come from the event's place in
# the application (event_ids.py), not from the run's random sequence.
PUBLISH_PATCH = "batched-publish-stable-ids"
# The e-licence became a record of its own (number, holder, validity) after the first
# release; earlier histories complete with the number alone.
ELICENCE_PATCH = "elicence-record"
# A supplement that reopens departments' tasks publishes ClocksResumed (the tasks' clocks
# run again); before it, nothing was published and consumers showed them paused.
CLOCKS_RESUMED_PATCH = "clocks-resumed-event"
# The legal limit (法定时限) is supervised too: every clock with a legal limit gets a
# legal deadline (one more deadline activity after acceptance) and a legal alert level
# beyond red; a special procedure gets a timer for its maximum length. Asked at the start
# of the run; runs begun before it keep the committed limit's timers only.
LEGAL_LIMIT_PATCH = "legal-limit-supervision"
# 授权与数据来源: a shared-data check runs only with the applicant's consent to its purpose
# (ApplicationInput.consents); a check without it is not run, so its material is asked
# for and the application cannot be auto-approved. The acceptance names the checks not
# run and the rules' version; each check carries its consent. Asked at the start of the
# run; runs begun before it run every check of the matter, as they always did.
CONSENT_PATCH = "consent-and-provenance"
# 督办件: a red alert (the first of its clock, or again after an extension) names the
# supervision case it opens (SupervisionAlert.case_code; the bridge starts the case's own
# workflow), and no reminder repeats after a red or legal alert: the case climbs from the
# department head to the supervision office instead. Asked at the start of the run; runs
# begun before it keep their reminders (at most max_escalations) and open no case.
SUPERVISION_CASES_PATCH = "supervision-cases"
# 行政区划: the matter is resolved as published in the division that decides the
# application (a county's shorter committed limit, a city's extra material). Asked when
# the matter is resolved; runs begun before it keep the province's matter.
JURISDICTIONS_PATCH = "jurisdictions"
# The e-licence is issued by a local activity, inside the workflow task that completes
# the application, instead of a regular activity whose completion needed a workflow task
# of its own (six history events and two round trips through Temporal for every
# application with an e-licence: the benchmark's auto-approved loan). Issuing is
# idempotent per application (the first stored record wins), as a local activity must
# be. Asked at the start of the run; runs begun before it issue it as a regular activity.
LOCAL_ELICENCE_PATCH = "local-elicence"
# Every patch above in one marker. Each patch a run asks records a marker and an upsert
# of the TemporalChangeVersion search attribute (Temporal's core does that), so a new
# run asked seven: fourteen history events and seven visibility updates for every
# application, whatever it is. A run begun with BASELINE_PATCH has every patch above
# without asking one (`since`); runs begun before it ask each, as they did. A patch
# added after this one is asked on its own. (TemporalChangeVersion names only this
# patch for such runs: search for it, not for the patches it stands for.)
BASELINE_PATCH = "baseline-2026-12"

SHORT = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
    ),
)
_LOCAL = workflow.LocalActivityConfig(
    start_to_close_timeout=SHORT["start_to_close_timeout"],
    retry_policy=SHORT["retry_policy"],
)


def since(patch: str) -> bool:
    """Whether this run has `patch`, one of those up to BASELINE_PATCH: a run begun
    with BASELINE_PATCH has them all without asking (no marker of their own).
    BASELINE_PATCH is asked first in `run`, so its answer is memoized for the run.
    Never for a patch added after BASELINE_PATCH: runs begun with the baseline but
    before that patch would take its branch; ask `workflow.patched` for those."""
    return workflow.patched(BASELINE_PATCH) or workflow.patched(patch)


def has_patch(patch: str) -> bool:
    """Whether this run has `patch`, one of those before LOCAL_ACTIVITIES_PATCH.

    A run begun with LOCAL_ACTIVITIES_PATCH has every earlier patch without asking (no
    marker of its own). Asking after a local activity is not safe: the time-skipping
    test server sometimes recorded the local activity's result in one workflow task and
    the code after it in the next, while replay runs that code in the first, before the
    later marker is known, so `patched` said False there (a replay test caught it).
    """
    return since(LOCAL_ACTIVITIES_PATCH) or workflow.patched(patch)


async def run_short(name: str, arg: Any, *, result_type: type[T] | None = None) -> T:
    """A short activity (a read, a computation, a publish): local since
    LOCAL_ACTIVITIES_PATCH, a regular activity in the histories from before it.
    Each of these is safe to run again (reads, pure, or published under the same event
    id), as a local activity may be when its workflow task is retried."""
    if since(LOCAL_ACTIVITIES_PATCH):  # memoized: asked first in `run`
        return await run_local(name, arg, result_type=result_type)
    return await run_activity(name, arg, result_type=result_type)


async def run_local(name: str, arg: Any, *, result_type: type[T] | None = None) -> T:
    """A local activity with the short timeouts: `run_short`'s since
    LOCAL_ACTIVITIES_PATCH, and the e-licence's since LOCAL_ELICENCE_PATCH."""
    return await workflow.execute_local_activity(name, arg, result_type=result_type, **_LOCAL)


async def run_activity(name: str, arg: Any, *, result_type: type[T] | None = None) -> T:
    """A regular activity with the short timeouts (moving deadlines, and the e-licence
    before LOCAL_ELICENCE_PATCH): these did not become local with LOCAL_ACTIVITIES_PATCH,
    so every history has them as they are."""
    return await workflow.execute_activity(name, arg, result_type=result_type, **SHORT)
