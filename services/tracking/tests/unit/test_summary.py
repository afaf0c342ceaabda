import json
import random

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.platform.events import EVENT_TYPES
from onceonly.tracking import summary
from onceonly.tracking.chain import canonical_summary
from onceonly.tracking.summary import summarise


def _all_strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*value.keys(), *(s for v in value.values() for s in _all_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _all_strings(v)]
    return [value] if isinstance(value, str) else []


def test_submission_keeps_only_masked_personal_data(events) -> None:
    code = events.code()
    message = events.submitted(code)
    summary = summarise(message)

    assert summary["applicant"]["name"] == "张**"
    assert summary["applicant"]["identifier"] == "4301**************"
    assert summary["contact"]["mobile"] == "1381234****"
    assert summary["contact"]["channels"] == ["sms"]
    assert summary["applicant"]["kind"] == "APPLICANT_KIND_PERSON"
    assert summary["materials"][1] == {"code": "household-register", "reference": "doc://2"}
    assert summary["submitted_at"] == "2025-03-03T09:00:00Z"

    text = json.dumps(summary, ensure_ascii=False)
    assert "张三丰" not in text
    assert "430102199001011234" not in text
    assert "13812345678" not in text
    assert "sealed" not in text
    for sealed in (message.applicant.name.sealed, message.contact.mobile.sealed):
        assert sealed not in _all_strings(summary)


def test_approval_events_mask_their_contact(events) -> None:
    code = events.code()
    summary = summarise(events.task_decided(code, reason="材料齐全"))
    assert summary["contact"]["mobile"] == "1381234****"
    assert summary["outcome"] == "DECISION_OUTCOME_APPROVED"
    assert summary["actor"]["department_code"] == "public-security"
    assert summary["reason"] == "材料齐全"


def test_unset_sealed_text_is_left_out_and_empty_masks_stay_empty() -> None:
    assert "contact" not in summarise(approval_pb2.ApplicationWithdrawn(application_code="A"))
    message = application_pb2.ApplicationSubmitted(
        application_code="A",
        applicant=application_pb2.Applicant(
            name=application_pb2.SealedText(sealed="k:abc")  # no mask given
        ),
    )
    assert summarise(message)["applicant"] == {"name": ""}


def test_a_clock_not_started_has_no_times_not_1970() -> None:
    # The workflow sends a clock waiting for a supplement with empty Timestamps.
    empty = approval_pb2.Clock(committed_days=5, day_kind="working")
    empty.started_at.SetInParent()
    empty.due_at.SetInParent()
    accepted = approval_pb2.ApplicationAccepted(application_code="C", clock=empty)
    summary = summarise(accepted)
    assert summary["clock"] == {"committed_days": 5, "day_kind": "working"}
    assert "1970" not in json.dumps(summary)

    started = approval_pb2.Clock(committed_days=5)
    started.due_at.FromJsonString("2025-03-13T15:59:59Z")
    assert (
        summarise(approval_pb2.TaskStarted(application_code="C", clock=started))["clock"]["due_at"]
        == "2025-03-13T15:59:59Z"
    )


def test_sealed_form_fields_keep_only_their_masks(events) -> None:
    code = events.code()
    message = events.submitted(code)
    sealed = events.sealer.seal("330106198805210125", context=f"{code}:form:spouse_id_number")
    message.form_json = json.dumps(
        {
            "to_district": "西湖区",
            "spouse_id_number": {"sealed": sealed, "masked": "3301**************"},
        }
    )
    summary = summarise(message)
    assert json.loads(summary["form_json"]) == {
        "to_district": "西湖区",
        "spouse_id_number": "3301**************",
    }
    assert sealed not in json.dumps(summary)
    message.form_json = "not json, could hide anything"
    assert summarise(message)["form_json"] == ""


def test_an_agent_and_the_consents_show_masked_on_the_timeline() -> None:
    submitted = application_pb2.ApplicationSubmitted(
        application_code="330100-20261205-0000017",
        agent=application_pb2.Agent(
            name=application_pb2.SealedText(sealed="k1:AAAA", masked="李**"),
            identifier=application_pb2.SealedText(sealed="k1:BBBB", masked="1101**************"),
            mobile=application_pb2.SealedText(sealed="k1:CCCC", masked="1391234****"),
            relation="relative",
            authorisation=application_pb2.Authorisation(
                scope=["submit", "withdraw"],
                valid_from="2026-12-01",
                valid_until="2026-12-31",
                given_by="recorded_consent",
                consent_reference="kiosk-1",
            ),
        ),
        consents=[application_pb2.Consent(purpose="population", reference="c-1")],
    )
    summary = summarise(submitted)
    assert summary["agent"]["name"] == "李**"
    assert summary["agent"]["identifier"] == "1101**************"
    assert summary["agent"]["mobile"] == "1391234****"
    assert summary["agent"]["authorisation"]["scope"] == ["submit", "withdraw"]
    assert summary["consents"] == [{"purpose": "population", "reference": "c-1"}]
    assert "k1:" not in json.dumps(summary)


def test_each_check_shows_its_provenance_on_the_timeline() -> None:
    accepted = approval_pb2.ApplicationAccepted(
        application_code="330100-20261205-0000017",
        checks=[
            approval_pb2.CheckOutcome(
                check="population",
                passed=True,
                registry="population",
                record_reference="population/0123456789abcdef",
                code="confirmed",
                consent_reference="c-1",
            )
        ],
        checks_without_consent=["real-estate"],
        auto_approved=False,
        rule_version="shared-data-rules/2026.1",
    )
    accepted.checks[0].checked_at.FromJsonString("2026-12-05T01:00:00Z")
    summary = summarise(accepted)
    [check] = summary["checks"]
    assert check["registry"] == "population"
    assert check["record_reference"] == "population/0123456789abcdef"
    assert check["checked_at"] == "2026-12-05T01:00:00Z"
    assert summary["checks_without_consent"] == ["real-estate"]
    assert summary["rule_version"] == "shared-data-rules/2026.1"


# The summary is hashed into the timeline's chain: the walker written out in summary.py
# must give the dict MessageToDict gave, reduced, for every event type and every kind of
# value (each field set, empty Timestamps, unknown enum numbers, repeated, nested).


def _filled(message: Message, rng: random.Random, depth: int = 0) -> Message:
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.2:
            continue  # left unset
        count = rng.randint(0, 3) if field.is_repeated else 1
        for _ in range(count):
            _set_one(message, field, rng, depth)
    return message


def _set_one(message: Message, field: FieldDescriptor, rng: random.Random, depth: int) -> None:
    kind = field.message_type
    if kind is not None:
        target = getattr(message, field.name).add() if field.is_repeated else None
        if target is None:
            target = getattr(message, field.name)
            target.SetInParent()
        if kind.full_name == "google.protobuf.Timestamp":
            roll = rng.random()
            if roll < 0.15:  # the epoch itself, but not empty
                target.nanos = rng.choice([5, 1_000_000])
            elif roll < 0.6:  # else empty, as a clock not started
                target.seconds = rng.randint(0, 2_000_000_000)
                target.nanos = rng.choice([0, 1_000_000, 123_456_789])
        elif depth < 4:
            _filled(target, rng, depth + 1)
        return
    value = _scalar(field, rng)
    if field.is_repeated:
        getattr(message, field.name).append(value)
    else:
        setattr(message, field.name, value)


def _scalar(field: FieldDescriptor, rng: random.Random) -> object:
    if field.type == FieldDescriptor.TYPE_STRING:
        return rng.choice(["", "a", "张三丰", "1381234****", '{"x": 1}', "\\n\"'"])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.randint(0, 9))
    if field.type == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return rng.choice([*numbers, 97])  # 97: a number no version of ours names
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_INT32):
        return rng.choice([0, 1, -1, 2**31 - 1, -(2**31)])
    if field.cpp_type in (FieldDescriptor.CPPTYPE_UINT64, FieldDescriptor.CPPTYPE_UINT32):
        return rng.choice([0, 1, 2**32 - 1])
    raise AssertionError(f"no filler for {field.full_name}")


@pytest.mark.parametrize("ce_type", sorted(EVENT_TYPES))
def test_the_summary_is_the_reduced_message_to_dict_for_every_event_type(ce_type: str) -> None:
    for seed in range(25):
        message = _filled(EVENT_TYPES[ce_type](), random.Random(f"{ce_type}/{seed}"))
        expected = MessageToDict(message, preserving_proto_field_name=True)
        summary._reduce(message.DESCRIPTOR, expected)
        assert canonical_summary(summary._converter(message.DESCRIPTOR)(message)) == (
            canonical_summary(expected)
        ), (ce_type, seed)


def test_every_event_type_takes_the_written_out_path() -> None:
    fallen_back = [
        ce_type
        for ce_type, cls in EVENT_TYPES.items()
        if summary._converter(cls.DESCRIPTOR) is summary._through_message_to_dict
    ]
    assert fallen_back == []
