"""Notify: citizen notifications and integrator webhooks, exactly once in effect."""
