"""Domain errors of tracking; the API turns them into problem responses."""

from __future__ import annotations


class TrackingError(Exception):
    """Base of tracking's domain errors."""


class ApplicationNotFound(TrackingError):
    """No event of this application has been recorded."""

    def __init__(self, application_code: str) -> None:
        super().__init__(f"no events recorded for application {application_code!r}")
        self.application_code = application_code


class UnprocessableEvent(TrackingError):
    """An event that can never be recorded (it goes to the dead-letter topic)."""
