"""Replay of recorded histories: a change to JointApproval that would break running
applications fails here. Histories are recorded by running the workflow tests with
ONCEONLY_RECORD_HISTORIES=1; record anew only for a deliberate, versioned change, and
keep the histories of the versions before it. Each history is named after the patch its
version ends with (`*.baseline-2026-12.json` are the current version's, see
HISTORY_VERSION in conftest.py; `*.local-elicence.json`, `*.jurisdictions.json`,
`*.supervision-cases.json`,
`*.consent-and-provenance.json`,
`*.legal-limit-supervision.json`, `*.clocks-resumed-event.json`,
`*.batched-publish-stable-ids.json`,
`*.local-activities.json` and the unsuffixed ones are older); `dev-server-*` was taken
from the Temporal dev server of `make up` (`temporal workflow show -o json`, or a
client's `fetch_history()`), as the time-skipping server splits workflow tasks
differently).

Each history is replayed with the services' data converter (payloads encrypted): as
recorded (plaintext payloads pass through the codec, as running workflows started
before it have them), and with every payload encrypted, as Temporal now stores them;
`dev-server-encrypted-*` is one as the dev server stored it (under the development PII
key)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.workflow.payload_codec import ENCODING, EncryptionCodec, data_converter
from onceonly.workflow.rectification_workflow import Rectification
from onceonly.workflow.supervision_case_workflow import SupervisionCase
from onceonly.workflow.worker import sandbox_runner
from onceonly.workflow.workflows import JointApproval
from services.workflow.tests.history_payloads import payloads, transform

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
TEXTS = {path.stem: path.read_text(encoding="utf-8") for path in HISTORIES}
CODEC = EncryptionCodec.from_pii_keys(DEVELOPMENT_PII_KEY)


def test_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 137, "the recorded histories are missing"


def encrypted_once(payload: Payload) -> Payload:
    """Encrypted, unless it is already (a history taken from the dev server as is)."""
    return payload if payload.metadata.get("encoding") == ENCODING else CODEC.encrypt(payload)


@pytest.mark.parametrize("encrypted", [False, True], ids=["as-recorded", "encrypted"])
@pytest.mark.parametrize("name", sorted(TEXTS))
async def test_recorded_history_replays(name: str, encrypted: bool) -> None:
    history = WorkflowHistory.from_json(name, TEXTS[name])
    if encrypted:
        for event in history.events:
            transform(event, encrypted_once)
        every = [p for event in history.events for p in payloads(event)]
        assert every and all(p.metadata["encoding"] == ENCODING for p in every)
    replayer = Replayer(
        # Every workflow type: the case workflows' histories are recorded beside the
        # applications'.
        workflows=[JointApproval, Rectification, SupervisionCase],
        workflow_runner=sandbox_runner(),
        data_converter=data_converter(CODEC),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
