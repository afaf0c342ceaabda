"""What the HTTP providers (SMS gateway, app push) share: the request, and what a
transport failure means for whether the message may have been sent."""

from __future__ import annotations

from typing import Any

import httpx

from onceonly.notify.errors import TemporaryProviderError

IDEMPOTENCY_HEADER = "Idempotency-Key"


async def post_message(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    token: str,
    request_timeout: float,
    service: str,
) -> httpx.Response:
    """POST one message with the ledger key as `Idempotency-Key`; `service` names the
    other side in errors (never the recipient: errors reach the ledger and the logs)."""
    headers = {IDEMPOTENCY_HEADER: idempotency_key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        return await client.post(url, json=payload, headers=headers, timeout=request_timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        # No connection was made, so nothing can have been sent.
        raise TemporaryProviderError(f"{service} unreachable: {exc!r}", not_sent=True) from exc
    except httpx.HTTPError as exc:
        # Sent, perhaps taken, answer lost: in doubt.
        raise TemporaryProviderError(f"{service} did not answer: {exc!r}") from exc


def answer_fields(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or {} when it has none."""
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def message_id(answer: dict[str, Any]) -> str:
    return str(answer.get("message_id") or answer.get("id") or "")
