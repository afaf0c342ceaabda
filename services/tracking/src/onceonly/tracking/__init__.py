"""Tracking: timelines, status and supervision figures from every event."""
