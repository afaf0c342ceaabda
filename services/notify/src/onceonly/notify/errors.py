"""Domain errors of notify; the consumer turns the permanent ones into dead letters."""

from __future__ import annotations


class NotifyError(Exception):
    """Base of notify's errors."""


class TemplateError(NotifyError):
    """Template data that is inconsistent, or an event that no template can render
    (e.g. an unspecified outcome): retrying cannot help."""


class ProviderError(NotifyError):
    """A provider could not take a message."""


class TemporaryProviderError(ProviderError):
    """Worth retrying later. `not_sent` is True when the provider is certain the message
    did not go out (e.g. connection refused), so a retry cannot duplicate it."""

    def __init__(self, message: str, *, not_sent: bool = False) -> None:
        super().__init__(message)
        self.not_sent = not_sent


class PermanentProviderError(ProviderError):
    """Never deliverable as addressed (e.g. an invalid number): record it, do not retry."""


class WebhookDestinationRefused(NotifyError):
    """A webhook may not be sent there: its URL, or an address its host resolves to, is
    outside what webhooks may reach. `reason` says why, for the operator or for the
    integrator who registered the URL; it never repeats the URL (which may hold a secret)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class WebhookUrlRefused(WebhookDestinationRefused):
    """A webhook URL refused as written (scheme, form, host name or address literal)."""
