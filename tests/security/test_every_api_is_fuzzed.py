"""Every API fuzzed by schemathesis with no 500: the runs themselves live with each
service (services/*/tests/integration/test_schemathesis.py, each against its API served
over HTTP by uvicorn on the test database, with valid credentials so that the fuzzing
reaches past authentication) and are not repeated here. This checklist item only
guards that each of the four APIs still has its run, that the run checks for server
errors, and that `pytest -m "integration or e2e"` collects it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APIS = ["intake", "workflow", "tracking", "notify"]


@pytest.mark.parametrize("service", APIS)
def test_every_api_is_fuzzed_for_server_errors(service: str) -> None:
    path = REPO / "services" / service / "tests" / "integration" / "test_schemathesis.py"
    assert path.is_file(), f"{service} has no schemathesis run"
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "not_a_server_error" in names, f"{service}'s run does not check for 500s"
    marks = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
    ]
    assert marks and "integration" in ast.unparse(marks[0].value), f"{service}: not integration"
    tests = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]
    assert any("case" in [a.arg for a in t.args.args] for t in tests), f"{service}: no fuzzed case"
