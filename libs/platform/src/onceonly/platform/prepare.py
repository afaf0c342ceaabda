"""`python -m onceonly.platform.prepare`: what a new installation (or an upgrade) needs
before its processes start: every component's SQL migrations and every stream's topic,
laid out as the settings say. A cluster runs it once as a job before the services (the
Helm chart's pre-install/pre-upgrade hook); the processes still apply their own on start
(under the same advisory lock), so running it is never required locally.
"""

from __future__ import annotations

import argparse
import asyncio

from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.kafka import ensure_topics, wait_for_kafka
from onceonly.platform.settings import PlatformSettings, load_settings
from onceonly.platform.topics import all_topics

# Each component's migrations are in the package `onceonly.<component>`.
COMPONENTS = ("intake", "workflow", "tracking", "notify")


async def prepare(settings: PlatformSettings, components: tuple[str, ...]) -> list[str]:
    """Apply the migrations, create the topics; what was done, one line each."""
    done = []
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        for component in components:
            await prepare_database(pool, component=component, package=f"onceonly.{component}")
            done.append(f"migrations: {component} up to date")
    finally:
        await pool.close()
    await wait_for_kafka(settings.kafka_bootstrap)
    topics = all_topics(settings.topic_prefix)
    await ensure_topics(settings.kafka_bootstrap, topics)
    done.append(f"topics: {len(topics)} present ({', '.join(topics)})")
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m onceonly.platform.prepare", description=__doc__
    )
    parser.add_argument(
        "components", nargs="*", default=list(COMPONENTS), help="default: every component"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.components) - set(COMPONENTS))
    if unknown:
        parser.error(f"unknown component(s): {', '.join(unknown)}; known: {', '.join(COMPONENTS)}")
    settings = load_settings(PlatformSettings)
    for line in asyncio.run(prepare(settings, tuple(args.components))):
        print(line)


if __name__ == "__main__":
    main()
