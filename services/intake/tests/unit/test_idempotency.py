"""Request fingerprints and Idempotency-Key syntax."""

from __future__ import annotations

import pytest

from onceonly.intake.errors import InvalidValue
from onceonly.intake.idempotency import request_fingerprint, validate_key


def test_the_same_json_in_another_order_is_the_same_request() -> None:
    first = request_fingerprint("POST", "/v1/applications", {"a": 1, "b": {"c": [1, 2]}})
    again = request_fingerprint("post", "/v1/applications", {"b": {"c": [1, 2]}, "a": 1})
    assert first == again


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/applications", {"a": 2, "b": {"c": [1, 2]}}),
        ("POST", "/v1/applications", {"a": 1, "b": {"c": [2, 1]}}),
        ("POST", "/v1/other", {"a": 1, "b": {"c": [1, 2]}}),
        ("PUT", "/v1/applications", {"a": 1, "b": {"c": [1, 2]}}),
    ],
)
def test_any_difference_is_another_request(method: str, path: str, body: dict) -> None:
    first = request_fingerprint("POST", "/v1/applications", {"a": 1, "b": {"c": [1, 2]}})
    assert request_fingerprint(method, path, body) != first


@pytest.mark.parametrize("key", ["5d0f9a2e-3f4b-4c1e-9a53-6e1f7c2b8a10", "k", "a" * 255, "x:y/z"])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "a" * 256, "has space", "键", "tab\there"])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidValue):
        validate_key(key)
