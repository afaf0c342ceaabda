"""The search attributes the workflows set are registered on a namespace that lacks them,
once (on the real dev server), and the local bring-up declares the same list."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import (
    DeleteNamespaceRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from onceonly.platform.testing import eventually
from onceonly.workflow.search_attributes import declared, register
from onceonly.workflow.settings import WorkflowSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]


def test_the_local_dev_server_declares_the_same_attributes() -> None:
    infra = (REPO / "deploy/local/infra.sh").read_text(encoding="utf-8")
    block = re.search(r"TEMPORAL_SEARCH_ATTRIBUTES=\(\n(.*?)\n\)", infra, re.S)
    assert block is not None
    local = dict(line.strip().split("=") for line in block.group(1).splitlines())
    assert local == declared()
    # Compose registers them with the same command as the Helm chart's job, which
    # reads `declared()` itself (tests/deploy/test_compose.py checks the service).
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    assert "onceonly-workflow register-search-attributes" in compose


async def test_a_new_namespace_gets_every_attribute_once(settings: WorkflowSettings) -> None:
    namespace = f"sa-{uuid.uuid4().hex[:10]}"
    client = await Client.connect(settings.temporal_address)
    retention = Duration()
    retention.FromTimedelta(timedelta(days=1))
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
    )

    async def first() -> list[str] | RPCError:
        try:
            return await register(client, namespace)
        except RPCError as error:  # a namespace just registered may not be known yet
            return error

    added = await eventually(first, lambda found: isinstance(found, list), what="a registration")
    assert added == sorted(declared())
    assert await register(client, namespace) == []
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert set(declared()) <= set(listed.custom_attributes)
    await client.operator_service.delete_namespace(DeleteNamespaceRequest(namespace=namespace))
