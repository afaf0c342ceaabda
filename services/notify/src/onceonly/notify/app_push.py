"""An app-push service over HTTP behind the Provider interface (channel "app").

POST {url} with JSON {"to", "title", "body", "data": {"application_code"}}; a 2xx
answer carries {"message_id": ...}. The recipient is the applicant's mobile number,
which the government app uses as the account's identifier.

Push services commonly have no idempotency key (APNs and FCM have none), so by default
this provider declares itself not idempotent: a send whose answer was lost is recorded
as possibly sent and never blindly repeated. A service that does deduplicate by the
`Idempotency-Key` header can be declared idempotent (ONCEONLY_NOTIFY_PUSH_IDEMPOTENT).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from onceonly.notify.errors import PermanentProviderError, TemporaryProviderError
from onceonly.notify.http_provider import answer_fields, message_id, post_message
from onceonly.notify.providers import OutboundMessage, SendResult

_NOT_TAKEN = frozenset({408, 429, 503})


class HttpPushProvider:
    name = "http-push"

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        token: str = "",
        title: str = "政务服务",
        idempotent: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._url = url
        self._token = token
        self._title = title
        self.idempotent = idempotent
        self._timeout = timeout

    async def send(self, message: OutboundMessage) -> SendResult:
        payload = {
            "to": message.recipient,
            "title": self._title,
            "body": message.body,
            "data": {"application_code": message.application_code},
        }
        response = await post_message(
            self._client,
            self._url,
            payload,
            idempotency_key=message.idempotency_key,
            token=self._token,
            request_timeout=self._timeout,
            service="push service",
        )
        status = response.status_code
        if status in _NOT_TAKEN:
            # The service says it did not take the message (overloaded, throttled, or
            # the request incomplete): a retry cannot duplicate it even without a key.
            raise TemporaryProviderError(f"push service answered HTTP {status}", not_sent=True)
        if status >= 500:
            # An error after the request was read (or a proxy's timeout): in doubt.
            raise TemporaryProviderError(f"push service answered HTTP {status}")
        if not 200 <= status < 300:
            # e.g. 404: no app installation for this account. Never the number in an error.
            raise PermanentProviderError(f"push service refused the message: HTTP {status}")
        return SendResult(
            provider=self.name,
            provider_message_id=message_id(answer_fields(response)),
            segments=0,  # not an SMS: nothing billed per segment
            sent_at=datetime.now(UTC),
        )
