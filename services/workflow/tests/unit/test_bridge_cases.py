"""What the bridge starts from a rating (a rectification) and from a red alert (a
supervision case): pure mapping of the events."""

from __future__ import annotations

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2
from onceonly.workflow.bridge import rectification_input, supervision_case_input
from onceonly.workflow.case_clocks import DEFAULT_CASE_LEVELS, CaseLevel

CODE = "330100-20261205-0000017"
CATALOGUE = default_catalogue()


def rating(level: int, department: str = "fire") -> application_pb2.RatingGiven:
    event = application_pb2.RatingGiven(
        application_code=CODE,
        level=level,
        comment="太慢",
        department_code=department,
        matter_code="construction-joint-approval",
    )
    event.rated_at.FromJsonString("2026-12-05T01:00:00Z")
    return event


def test_a_bad_rating_opens_a_rectification_of_its_department() -> None:
    for level in (1, 2):
        case = rectification_input(rating(level))
        assert case is not None
        assert (case.case_code, case.department_code, case.rating_level) == (
            f"ZG-{CODE}",
            "fire",
            level,
        )
        assert case.rated_at == "2026-12-05T01:00:00+00:00"
        assert case.matter_code == "construction-joint-approval"


def test_a_good_rating_or_one_without_its_step_opens_none() -> None:
    assert [rectification_input(rating(level)) for level in (3, 4, 5)] == [None] * 3
    assert rectification_input(rating(1, department="")) is None


def alert(department: str, case_code: str, matter: str = "business-startup"):
    message = supervision_pb2.SupervisionAlert(
        application_code=CODE,
        matter_code=matter,
        department_code=department,
        level=supervision_pb2.SUPERVISION_LEVEL_RED,
        case_code=case_code,
        clock=approval_pb2.Clock(committed_days=1),
    )
    message.raised_at.FromJsonString("2026-12-05T16:00:00Z")
    message.clock.due_at.FromJsonString("2026-12-05T15:59:59Z")
    return message


def test_a_red_alert_naming_a_case_opens_it_for_the_late_department() -> None:
    levels = (CaseLevel("department_head", 2), CaseLevel("supervision_office", 4))
    case = supervision_case_input(
        alert("tax", f"DB-{CODE}-tax-1"), levels=levels, catalogue=CATALOGUE
    )
    assert case is not None
    assert (case.case_code, case.department_code, case.clock_department_code) == (
        f"DB-{CODE}-tax-1",
        "tax",
        "tax",
    )
    assert [(level.addressee, level.response_days) for level in case.levels] == [
        ("department_head", 2),
        ("supervision_office", 4),
    ]
    assert case.opened_at == "2026-12-05T16:00:00+00:00"
    assert case.clock_due_at == "2026-12-05T15:59:59+00:00"


def test_the_application_clocks_case_goes_to_the_lead_department() -> None:
    case = supervision_case_input(
        alert("", f"DB-{CODE}-A-1"), levels=DEFAULT_CASE_LEVELS, catalogue=CATALOGUE
    )
    assert case is not None
    assert case.department_code == "market-regulation" and case.clock_department_code == ""
    single = supervision_case_input(
        alert("", f"DB-{CODE}-A-1", matter="household-transfer"),
        levels=DEFAULT_CASE_LEVELS,
        catalogue=CATALOGUE,
    )
    assert single is not None and single.department_code == "public-security"


def test_alerts_without_a_case_open_none() -> None:
    for message in (alert("tax", ""), alert("", f"DB-{CODE}-A-1", matter="no-such-matter")):
        assert (
            supervision_case_input(message, levels=DEFAULT_CASE_LEVELS, catalogue=CATALOGUE) is None
        )
