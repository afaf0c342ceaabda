"""An application whose form holds personal fields (a spouse moving along): the
workflow gets them sealed, as intake publishes them, and the shared-data checks still
read the plain fields they need. Neither the history, decrypted as the codec endpoint
shows it to operations staff, nor anything the workflow publishes holds them in clear."""

from __future__ import annotations

import json

from onceonly.events.v1 import approval_pb2
from onceonly.platform.pii import PiiSealer, form_field_context
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.platform.testing import eventually
from onceonly.workflow.payload_codec import EncryptionCodec
from onceonly.workflow.shared import ApplicationSnapshot, WithdrawalInput
from services.workflow.tests.history_payloads import payloads, transform

from .test_shared_data import GOOD_BORROWER, application, start

SEALER = PiiSealer(DEVELOPMENT_PII_KEY)
# The harness's client encrypts every payload under this key (as production does).
CODEC = EncryptionCodec.from_pii_keys(DEVELOPMENT_PII_KEY)
SPOUSE = {
    "spouse_name": ("李四娘", "李**"),
    "spouse_id_number": ("330106198805210125", "3301**************"),
    "spouse_mobile": ("13900001234", "1390000****"),
}


async def test_sealed_form_fields_reach_the_workflow_sealed(harness, application_code):
    form: dict[str, object] = {"to_district": "西湖区"}
    for name, (value, masked) in SPOUSE.items():
        context = form_field_context(application_code, (name,))
        form[name] = {"sealed": SEALER.seal(value, context=context), "masked": masked}
    handle = await start(
        harness,
        application(
            application_code,
            "household-transfer",
            GOOD_BORROWER,
            ["transfer-application", "household-register"],
            form,
        ),
    )
    snap = await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.tasks,
        what="the tasks",
    )
    # The real-estate check read the plain destination next to the sealed fields.
    accepted = harness.producer.messages("ApplicationAccepted")[0]
    assert accepted.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED
    assert snap.state == "in_approval"
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()

    history = await handle.fetch_history()
    data = b""
    for event in history.events:
        transform(event, CODEC.decrypt)
        data += b"\n".join(payload.data for payload in payloads(event))
    # Decrypted: the input's form is there, its personal fields sealed.
    assert b"to_district" in data
    for name in SPOUSE:
        assert form[name]["sealed"].encode() in data  # type: ignore[index]
    for value, _ in SPOUSE.values():
        # Plain, as JSON, or as JSON inside JSON (form_json is a string in the input).
        for text in (value, json.dumps(value)[1:-1], json.dumps(json.dumps(value))[1:-1]):
            assert text.encode() not in data
        for _, envelope in harness.producer.sent:
            assert value.encode() not in envelope.message().SerializeToString()
