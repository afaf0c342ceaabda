"""Domain errors of intake; the API turns them into problem+json answers."""

from __future__ import annotations

from dataclasses import dataclass


class IntakeError(Exception):
    """Base of intake's errors."""


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One invalid field of a request, with a message for people in both languages."""

    field: str
    code: str
    message_en: str
    message_zh: str


class InvalidValue(IntakeError, ValueError):
    """A value that fails a format rule (identifier, mobile number, application code)."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh

    def at(self, field: str) -> FieldIssue:
        return FieldIssue(field, self.code, self.message_en, self.message_zh)


class SubmissionInvalid(IntakeError):
    """A submission that breaks one or more rules; every broken rule is listed at once."""

    def __init__(self, issues: list[FieldIssue]) -> None:
        super().__init__("; ".join(f"{issue.field}: {issue.message_en}" for issue in issues))
        self.issues = tuple(issues)


class IdempotencyKeyReused(IntakeError):
    """The Idempotency-Key was already used for a request with a different body."""


class SequenceExhausted(IntakeError):
    """The region has used every application code sequence number of the day."""


class UnknownIntegrator(IntakeError):
    """No integrator has this id."""


class UnknownApiKey(IntakeError):
    """No API key has this id."""


class ApplicationNotFound(IntakeError):
    """No application with this code belongs to the integrator (or none exists)."""


class UpdateConflict(IntakeError):
    """An update the application's history refuses: a second rating or withdrawal
    request, or a supplement after a withdrawal request."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh


class AgentNotAuthorised(IntakeError):
    """An act of an agent (帮代办) outside the applicant's authorisation: its scope or its
    validity, or an application without an agent (403)."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh


class LookupsLimited(IntakeError):
    """The deployment's budget of failed progress lookups for this minute is spent."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"retry after {retry_after_seconds:g} s")
        self.retry_after_seconds = retry_after_seconds


class NotHotline(IntakeError):
    """An integrator without the `hotline` capability tried to file a work order."""
