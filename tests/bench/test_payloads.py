"""The benchmark's loan application consents to every check its matter runs, so that each
workflow is approved automatically (秒批) and the run leaves no open work behind."""

from __future__ import annotations

from bench.payloads import MATTER, loan_application
from onceonly.catalogue import default_catalogue


def test_the_loan_consents_to_every_check_of_its_matter() -> None:
    matter = default_catalogue().matter(MATTER)
    assert matter is not None and matter.auto_approval
    body = loan_application("run-1")
    assert sorted(c["purpose"] for c in body["consents"]) == sorted(matter.shared_data_checks)
