"""Domain errors of tracking; the API turns them into problem responses."""

from __future__ import annotations

from onceonly.platform.deferral import EventNotReady


class TrackingError(Exception):
    """Base of tracking's domain errors."""


class ApplicationNotFound(TrackingError):
    """No event of this application has been recorded."""

    def __init__(self, application_code: str) -> None:
        super().__init__(f"no events recorded for application {application_code!r}")
        self.application_code = application_code


class UnprocessableEvent(TrackingError):
    """An event that can never be recorded (it goes to the dead-letter topic)."""


class CauseNotRecorded(EventNotReady):
    """An effect whose cause is not on the timeline yet (a notification's outcome read
    before the event it reports on: they travel on different topics)."""

    def __init__(self, application_code: str, cause_event_id: str) -> None:
        super().__init__(f"event {cause_event_id} of {application_code} to be recorded first")
        self.cause_event_id = cause_event_id


class SubmissionNotRecorded(EventNotReady):
    """An event of the approval workflow read while its application's timeline is still
    empty (the submission, on another topic, not recorded yet)."""

    def __init__(self, application_code: str) -> None:
        super().__init__(f"the submission of {application_code} to be recorded first")
        self.application_code = application_code


class BatchConflict(TrackingError):
    """A batch met a row it was to insert already there (an event id recorded under
    another application meanwhile); nothing of it was written: its events are recorded
    one at a time."""
