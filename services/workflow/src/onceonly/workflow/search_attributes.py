"""The search attributes the workflows set, registered on a Temporal cluster before the
first worker starts (`onceonly-workflow register-search-attributes`; the local dev server
takes the same list from deploy/local/infra.sh, and a test keeps the two equal)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from onceonly.workflow.supervision import DUE_TIME, SUPERVISION_LEVEL
from onceonly.workflow.workflows import (
    APPLICATION_CODE,
    COMPETENT_REGION,
    DEPARTMENTS,
    INTEGRATOR_ID,
    MATTER_CODE,
)

KEYS: tuple[SearchAttributeKey, ...] = (
    APPLICATION_CODE,
    MATTER_CODE,
    DEPARTMENTS,
    SUPERVISION_LEVEL,
    DUE_TIME,
    INTEGRATOR_ID,
    COMPETENT_REGION,
)


def declared() -> dict[str, str]:
    """Name -> type as the Temporal CLI spells it (`Keyword`, `KeywordList`, ...)."""
    return {
        key.name: IndexedValueType.Name(key.indexed_value_type)
        .removeprefix("INDEXED_VALUE_TYPE_")
        .title()
        .replace("_", "")
        for key in KEYS
    }


async def register(client: Client, namespace: str) -> list[str]:
    """Add the attributes the namespace lacks; the names added (none when all exist)."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: key.indexed_value_type for key in KEYS if key.name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
