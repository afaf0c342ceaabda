"""The faust agents, driven through faust's test context (no Kafka, no Postgres)."""

from onceonly.platform.topics import APPLICATION_STREAMS, Stream
from onceonly.tracking.agents import app_id, create_tracking_app, stream_topics
from onceonly.tracking.processing import TimelineRecorder
from onceonly.tracking.settings import TrackingSettings


class Collect:
    def __init__(self) -> None:
        self.appended: list[tuple[str, str, int]] = []
        self.parked: list[str] = []

    async def append(self, envelope, *, topic, partition, offset, message=None) -> bool:
        self.appended.append((envelope.id, topic, offset))
        return True

    async def park(self, record, reason: str) -> None:
        self.parked.append(reason)

    async def transition(self, event_id, *, topic, partition, offset):
        """As the store says of an event recorded from another message: nothing to count."""
        return None


class Progress:
    """The partition progress table, empty at first."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, int], int] = {}

    async def next_offset(self, topic: str, partition: int) -> int | None:
        return self.stored.get((topic, partition))

    async def save(self, next_offsets: dict[tuple[str, int], int]) -> None:
        self.stored.update(next_offsets)


def test_one_agent_per_stream_with_prefixed_topics_and_group() -> None:
    settings = TrackingSettings(environment="development", topic_prefix="unit-x")
    tracking = create_tracking_app(settings)
    # Every stream of application events; not the checkpoints tracking itself publishes.
    assert set(tracking.agents) == set(APPLICATION_STREAMS)
    assert Stream.TIMELINE_CHECKPOINTS not in tracking.agents
    assert app_id(settings) == "unit-x-tracking"
    assert TrackingSettings(environment="development").topic_prefix == "onceonly"
    assert app_id(TrackingSettings(environment="development")) == "onceonly-tracking"
    conf = tracking.app.conf
    assert conf.processing_guarantee.value == "at_least_once"
    assert conf.topic_partitions == 3
    for stream, agent in tracking.agents.items():
        assert agent.channel.get_topic_name() == stream_topics(settings)[stream]


async def test_agent_hands_each_event_with_its_headers_to_the_recorder(events) -> None:
    tracking = create_tracking_app(
        TrackingSettings(environment="development", topic_prefix="unit-y")
    )
    collect = Collect()
    tracking.runtime.recorder = TimelineRecorder(append=collect.append, park=collect.park)
    tracking.runtime.store = collect  # type: ignore[assignment]
    progress = Progress()
    tracking.runtime.progress = progress  # type: ignore[assignment]
    tracking.app.finalize()
    code = events.code()
    envelope = events.envelope(events.submitted(code), code)
    agent = tracking.agents[Stream.SUBMISSIONS]
    async with agent.test_context() as test_agent:
        await test_agent.put(value=envelope.data, key=code.encode(), headers=envelope.headers())
        await test_agent.put(value=b"garbage", key=None, headers=[("x", b"y")])
    assert collect.appended == [(envelope.id, "unit-y.submissions.v1", 0)]
    assert len(collect.parked) == 1
    assert "missing CloudEvents headers" in collect.parked[0]
    # Where the partition was first seen is stored at once; the rest by the timer.
    assert progress.stored == {("unit-y.submissions.v1", 0): 0}
    assert tracking.runtime.continuity is not None
    assert tracking.runtime.continuity.next_offset == {("unit-y.submissions.v1", 0): 2}
