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
from onceonly.notify.http_provider import answer_fields, message_id, post_message
from onceonly.notify.providers import OutboundMessage, SendResult
from onceonly.notify.sms import segment_count

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
        payload = {
            "to": message.recipient,
            "text": message.body,
            "reference": message.idempotency_key,
        }
        # A lost answer is in doubt, but the key makes a retry safe.
        response = await post_message(
            self._client,
            self._url,
            payload,
            idempotency_key=message.idempotency_key,
            token=self._token,
            request_timeout=self._timeout,
            service="gateway",
        )
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise TemporaryProviderError(f"gateway answered HTTP {status}")
        if not 200 <= status < 300:
            # Never the recipient's number in an error: it ends up in the ledger and logs.
            raise PermanentProviderError(f"gateway refused the message: HTTP {status}")
        answer = answer_fields(response)
        return SendResult(
            provider=self.name,
            provider_message_id=message_id(answer),
            segments=int(answer.get("segments") or segment_count(message.body)),
            sent_at=datetime.now(UTC),
            duplicate=response.headers.get(REPLAYED_HEADER, "").lower() == "true",
        )
