"""The department API: staff list their department's tasks and decide them.

Every change is a Temporal Update whose validator rejects a wrong department, a task
already decided, or a closed application before anything is recorded.

One router per resource (`tasks`, `applications`, `decisions`, `assignments`,
`special_procedures`), typed dependencies (`dependencies`), the Temporal calls and their
problems (`workflow_client`), and `create_app`, which only wires them (`app`).
"""

from onceonly.workflow.api.app import create_app

__all__ = ["create_app"]
