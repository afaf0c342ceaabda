"""How a joint approval's events leave the workflow: ids, holding back, publishing.

Workflow code (deterministic): the events go to the publishing activity as data
(approval_events dataclasses), which maps them to protobuf and publishes them.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

from onceonly.workflow.approval_events import ApprovalEvent
from onceonly.workflow.event_ids import event_key, logical_event_id
from onceonly.workflow.patches import run_short
from onceonly.workflow.shared import PublishBatch, PublishRequest, TaskListUpdate


class EventPublisher:
    def __init__(self, application_code: str) -> None:
        self._code = application_code
        # Set at the start of the run: since PUBLISH_PATCH, ids from the event's place
        # in the application; before it, the run's random sequence (workflow.uuid4()).
        self.stable_ids = False
        self._occurrences: dict[str, int] = {}
        self._held: list[PublishRequest] | None = None
        # The application's tasks now (set by the workflow): every published event carries
        # them to the task list, so that the list costs no query of the workflow.
        self.task_list: Callable[[int], TaskListUpdate] | None = None
        self._published = 0

    @property
    def application_code(self) -> str:
        return self._code

    @property
    def holding(self) -> bool:
        return self._held is not None

    async def publish(self, event: ApprovalEvent) -> None:
        # The id is the same when the activity runs again, so the copy is dropped
        # downstream as a duplicate.
        request = PublishRequest(
            stream=event.STREAM,
            event_id=self._event_id(event),
            application_code=self._code,
            ce_type=event.TYPE,
            time=workflow.now(),
            event=event,
        )
        if self._held is not None:
            self._held.append(request)
            return
        request.task_list = self._task_list()
        await run_short("publish_event", request)

    def hold(self) -> None:
        """Hold back the events published from here on until `release` (since
        PUBLISH_PATCH; before it, each is published at once)."""
        if self.stable_ids:
            self._held = []

    async def release(self) -> None:
        """Publish the held events, in order, in one activity."""
        held, self._held = self._held, None
        if held:
            held[-1].task_list = self._task_list()  # the tasks once all of them are out
            await run_short("publish_events", PublishBatch(held))

    def _task_list(self) -> TaskListUpdate | None:
        if self.task_list is None:
            return None
        # Deterministic and increasing within the run: the history's length, then the
        # order of publishing within one workflow task.
        self._published += 1
        version = workflow.info().get_current_history_length() * 65536 + self._published % 65536
        return self.task_list(version)

    def _event_id(self, event: ApprovalEvent) -> str:
        if not self.stable_ids:
            return str(workflow.uuid4())
        key = event_key(event.TYPE, event.department)
        self._occurrences[key] = occurrence = self._occurrences.get(key, 0) + 1
        return logical_event_id(self._code, key, occurrence)
