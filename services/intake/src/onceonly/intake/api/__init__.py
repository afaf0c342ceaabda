"""The integrator API: submit applications, read them back, read the catalogue.

Served by `onceonly-intake api`. A request handler never talks to Kafka: the
application and its event commit together in Postgres, and the relay publishes.

One router per resource (`applications`, `updates` (supplement, withdrawal, rating),
`materials`, `progress`, `matters`), typed dependencies and the helpers the routes share
(`dependencies`), and `create_app`, which only wires them (`app`).
"""

from onceonly.intake.api.app import create_app

__all__ = ["create_app"]
