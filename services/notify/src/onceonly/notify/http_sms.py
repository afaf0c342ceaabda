"""A generic HTTP SMS gateway behind the Provider interface.

POST {url} with JSON {"to", "text", "reference"} and an `Idempotency-Key` header (the
ledger key). The gateway must deduplicate by that key, which is what lets notify repeat
a send whose outcome is in doubt; a 2xx answer carries {"message_id": ...}, and a
gateway that recognised a repeated key says so with `Idempotent-Replayed: true`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from onceonly.notify.errors import PermanentProviderError, TemporaryProviderError
from onceonly.notify.providers import OutboundMessage, SendResult
from onceonly.notify.sms import segment_count

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class HttpSmsProvider:
    name = "http-sms"
    idempotent = True

    def __init__(
        self, client: httpx.AsyncClient, url: str, *, token: str = "", timeout: float = 10.0
    ) -> None:
        self._client = client
        self._url = url
        self._token = token
        self._timeout = timeout

    async def send(self, message: OutboundMessage) -> SendResult:
        headers = {IDEMPOTENCY_HEADER: message.idempotency_key}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        payload = {
            "to": message.recipient,
            "text": message.body,
            "reference": message.idempotency_key,
        }
        try:
            response = await self._client.post(
                self._url, json=payload, headers=headers, timeout=self._timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # No connection was made, so nothing can have been sent.
            raise TemporaryProviderError(f"gateway unreachable: {exc!r}", not_sent=True) from exc
        except httpx.HTTPError as exc:
            # Sent, perhaps taken, answer lost: in doubt (the key makes a retry safe).
            raise TemporaryProviderError(f"gateway did not answer: {exc!r}") from exc
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise TemporaryProviderError(f"gateway answered HTTP {status}")
        if not 200 <= status < 300:
            # Never the recipient's number in an error: it ends up in the ledger and logs.
            raise PermanentProviderError(f"gateway refused the message: HTTP {status}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        message_id = str(answer.get("message_id") or answer.get("id") or "")
        return SendResult(
            provider=self.name,
            provider_message_id=message_id,
            segments=int(answer.get("segments") or segment_count(message.body)),
            sent_at=datetime.now(UTC),
            duplicate=response.headers.get(REPLAYED_HEADER, "").lower() == "true",
        )
