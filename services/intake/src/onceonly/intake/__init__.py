"""Intake: integrators submit applications; the outbox relay publishes them."""
