"""Every operation of the integrator API is documented with examples, and every example
of a success answer is a valid body of that answer."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from onceonly.intake.api import create_app
from onceonly.intake.settings import IntakeSettings

APP = create_app(IntakeSettings(environment="development"))
SCHEMA = APP.openapi()
OPERATIONS = [
    (method, path, operation)
    for path, methods in SCHEMA["paths"].items()
    for method, operation in methods.items()
]


def api_routes(routes: list[Any]) -> list[APIRoute]:
    # Included routers (/health) keep their routes on the router they came from.
    found: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif (original := getattr(r, "original_router", None)) is not None:
            found.extend(api_routes(original.routes))
    return found


def route(method: str, path: str) -> APIRoute:
    return next(r for r in api_routes(APP.routes) if r.path == path and method.upper() in r.methods)


def has_examples(schema: dict[str, Any]) -> bool:
    if "examples" in schema or "example" in schema:
        return True
    if ref := schema.get("$ref"):
        return has_examples(SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[-1]])
    return any(has_examples(option) for option in schema.get("anyOf", ()))


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=lambda x: str(x))
def test_each_success_answer_has_a_valid_example(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
    assert successes
    model = route(method, path).response_model
    for answer in successes.values():
        example = answer["content"]["application/json"]["example"]
        model.model_validate(example)


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=lambda x: str(x))
def test_each_parameter_and_json_body_has_an_example(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    for parameter in operation.get("parameters", ()):
        assert has_examples(parameter["schema"]), f"{parameter['name']} has no example"
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        assert "examples" in body or has_examples(body["schema"])


def test_problems_have_an_example() -> None:
    assert has_examples(SCHEMA["components"]["schemas"]["ProblemView"])
