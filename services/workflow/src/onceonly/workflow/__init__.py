"""Workflow: Temporal joint approvals, the Kafka bridge and the department API."""
