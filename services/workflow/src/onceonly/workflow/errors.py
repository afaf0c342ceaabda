"""Errors of the workflow service's edges."""

from __future__ import annotations


class TemporalUnavailable(RuntimeError):
    """The Temporal server could not be reached."""
