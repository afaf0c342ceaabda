"""The tracking query API: an application's timeline, its verification, its status.

For supervision, operations and department staff (staff tokens); served by
`onceonly-tracking api`. Reads only: the agent process writes.

One router per resource (`applications`, `supervision`, `dashboard`), typed
dependencies (`dependencies`), the response bodies (`models`), and `create_app`, which
only wires them (`app`).
"""

from onceonly.tracking.api.app import create_app

__all__ = ["create_app"]
