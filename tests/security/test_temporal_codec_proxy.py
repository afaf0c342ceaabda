"""Temporal Web UI reads histories only through the operator's codec proxy.

A real department API process and a real `onceonly-workflow codec-proxy` process: the
proxy answers CORS for the configured UI origin only, forwards `/decode` with the
operator's token (from a file, never argv) and so opens a payload the workflow service
encrypted, and passes the API's refusal of a token through as the API's 401.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from onceonly.platform.secrets import DEVELOPMENT_PII_KEY
from onceonly.platform.testing import eventually, free_port
from onceonly.workflow.payload_codec import EncryptionCodec
from tests.observability.processes import BIN, Running, running

UI = "http://127.0.0.1:8233"
ELSEWHERE = "http://evil.example"
SECRET = {"spouse_name": "李四", "note": "the plaintext the UI should show"}


@pytest.fixture(scope="module")
def workflow_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    logs = tmp_path_factory.mktemp("codec-proxy")
    with running(["workflow-api"], otlp_endpoint="http://127.0.0.1:9", log_dir=logs) as up:
        yield up


async def answers(url: str) -> bool:
    """Whether anything answers HTTP at `url` (the department API's health needs a worker
    and a bridge, which this test does not run)."""
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            await http.options(url)
        except httpx.TransportError:
            return False
    return True


def operator_token(env: dict[str, str], api: str = "department") -> str:
    command = [str(BIN / "onceonly-workflow"), "token", "--staff", "ops-0001"]
    command += ["--department", "operations-centre", "--role", "operations", "--api", api]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def proxy(env: dict[str, str], port: int, api_url: str, *extra: str) -> subprocess.Popen[str]:
    command = [str(BIN / "onceonly-workflow"), "codec-proxy", "--ui-origin", UI]
    command += ["--port", str(port), "--api-url", api_url, *extra]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def encrypted_payload() -> dict[str, object]:
    """A payload as the worker gives Temporal: encrypted under the PII key family."""
    plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(SECRET).encode())
    [encrypted] = await EncryptionCodec.from_pii_keys(DEVELOPMENT_PII_KEY).encode([plain])
    assert SECRET["note"].encode() not in encrypted.SerializeToString()
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in encrypted.metadata.items()},
        "data": base64.b64encode(encrypted.data).decode(),
    }


@pytest.mark.timeout(180)
async def test_the_ui_decodes_through_the_proxy_and_only_the_ui(
    workflow_api: Running, tmp_path: Path
) -> None:
    api_url = workflow_api.urls["workflow-api"]
    env = dict(workflow_api.env)
    await eventually(lambda: answers(f"{api_url}/health"), within=60, what="the department API")
    token_file = tmp_path / "token"
    token_file.write_text(operator_token(env) + "\n")
    token_file.chmod(0o600)
    port = free_port()
    process = proxy(env, port, api_url, "--token-file", str(token_file))
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            await eventually(lambda: answers(f"{url}/decode"), within=30, what="the codec proxy")
            asked = {"Access-Control-Request-Method": "POST"}
            asked["Access-Control-Request-Headers"] = "content-type,x-namespace"

            allowed = await http.options("/decode", headers={"Origin": UI, **asked})
            assert allowed.status_code == 204
            assert allowed.headers["access-control-allow-origin"] == UI
            assert "POST" in allowed.headers["access-control-allow-methods"]
            assert "X-Namespace" in allowed.headers["access-control-allow-headers"]

            other = await http.options("/decode", headers={"Origin": ELSEWHERE, **asked})
            assert other.status_code == 403
            assert "access-control-allow-origin" not in other.headers

            body = {"payloads": [await encrypted_payload()]}
            headers = {"Origin": UI, "X-Namespace": "default"}
            decoded = await http.post("/decode", json=body, headers=headers)
            assert decoded.status_code == 200, decoded.text
            assert decoded.headers["access-control-allow-origin"] == UI
            [payload] = decoded.json()["payloads"]
            assert json.loads(base64.b64decode(payload["data"])) == SECRET

            stolen = await http.post("/decode", json=body, headers={"Origin": ELSEWHERE})
            assert stolen.status_code == 403 and SECRET["note"] not in stolen.text
            assert (await http.post("/decode", json=body)).status_code == 403  # no Origin

            # A token the API refuses (one for the tracking API): its 401, passed through.
            token_file.write_text(operator_token(env, api="tracking"))
            refused = await http.post("/decode", json=body, headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.headers["access-control-allow-origin"] == UI  # the UI shows it
            assert SECRET["note"] not in refused.text
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert operator_token(env) not in stderr  # the token is never logged


def test_the_proxy_does_not_start_without_a_token(workflow_api: Running) -> None:
    env = {k: v for k, v in workflow_api.env.items() if k != "ONCEONLY_CODEC_PROXY_TOKEN"}
    process = proxy(env, free_port(), workflow_api.urls["workflow-api"])
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "refusing to start: no token" in stderr and "Traceback" not in stderr
