"""The application the load submits: a housing-fund loan (秒批) of a seeded applicant
whose every shared-data check passes, so each workflow completes on its own and the run
leaves no open work behind."""

from __future__ import annotations

import uuid
from typing import Any

MATTER = "housing-fund-loan"
# 张伟 in services/workflow/src/onceonly/workflow/seed/registry.yaml (fictitious).
APPLICANT_ID = "330106198703152315"
APPLICANT_NAME = "张伟"
MOBILE = "13812345678"
# 授权: the applicant consents to every check of the matter; without consent a check is
# not run and the loan waits for paper instead of completing on its own.
CHECKS = ("population", "marriage", "real-estate", "social-insurance", "credit")


def loan_application(run_id: str) -> dict[str, Any]:
    return {
        "matter_code": MATTER,
        "applicant": {"kind": "person", "name": APPLICANT_NAME, "identifier": APPLICANT_ID},
        "contact": {"mobile": MOBILE, "channels": ["sms"], "language": "zh"},
        "materials": [
            {
                "code": "loan-application",
                "reference": f"dms://{run_id}/{uuid.uuid4().hex[:12]}/loan-application.pdf",
            }
        ],
        "form": {"loan_amount_cny": 600000, "loan_term_years": 30},
        "consents": [
            {"purpose": check, "reference": f"bench://{run_id}/consent/{check}"} for check in CHECKS
        ],
    }
