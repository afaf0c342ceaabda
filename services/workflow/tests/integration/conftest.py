"""What the workflow's integration tests share: settings with the test's own topics and
task queue, and the real activities, built as the worker builds them, over the
in-memory base registry and e-licence store."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.kafka_ports import Producer
from onceonly.platform.pii import PiiSealer
from onceonly.platform.testing import unique_prefix
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.elicences import InMemoryELicenceStore
from onceonly.workflow.registry import InMemoryBaseRegistry, load_seed
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.task_list import TaskListWriter

MakeActivities = Callable[..., ApprovalActivities]


@pytest.fixture
def settings(database_url: str) -> WorkflowSettings:
    return WorkflowSettings(
        environment="development",
        database_url=database_url,
        topic_prefix=unique_prefix(),
        temporal_task_queue=unique_prefix(),
    )


@pytest.fixture
def make_real_activities() -> MakeActivities:
    def make(
        settings: WorkflowSettings, producer: Producer, *, task_list: TaskListWriter | None = None
    ) -> ApprovalActivities:
        return ApprovalActivities(
            producer=producer,
            topic_prefix=settings.topic_prefix,
            catalogue=default_catalogue(),
            calendar=default_calendar(),
            registry=InMemoryBaseRegistry.from_seed(
                load_seed(), hmac_key=settings.registry_hmac_key()
            ),
            sealer=PiiSealer(settings.pii_keys.get_secret_value()),
            elicences=InMemoryELicenceStore(),
            elicence_keys=settings.elicence_keys(),
            task_list=task_list,
        )

    return make
