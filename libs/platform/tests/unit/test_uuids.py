import uuid

from onceonly.platform.uuids import random_uuid_text


def test_random_uuid_text_is_a_version_4_uuid_in_its_canonical_form() -> None:
    for _ in range(1_000):
        text = random_uuid_text()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_random_uuid_text_differs_each_time() -> None:
    assert len({random_uuid_text() for _ in range(1_000)}) == 1_000
