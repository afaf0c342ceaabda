"""The provider seam: the real address never reaches a log through a repr."""

from __future__ import annotations

from onceonly.notify.providers import LocalProvider, OutboundMessage, Provider


def test_an_outbound_message_does_not_show_its_recipient() -> None:
    message = OutboundMessage(
        idempotency_key="event-1/sms/abc",
        application_code="T-1",
        channel="sms",
        recipient="13812345678",
        recipient_masked="1381234****",
        body="text",
    )
    assert "13812345678" not in repr(message)
    assert "1381234****" in repr(message)


def test_the_local_provider_declares_itself_idempotent() -> None:
    # Notify repeats a send in doubt only through providers that say so.
    provider: Provider = LocalProvider(pool=None, sealer=None)  # type: ignore[arg-type]
    assert provider.name == "local"
    assert provider.idempotent is True
