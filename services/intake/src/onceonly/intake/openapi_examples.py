"""Examples of every success answer in the OpenAPI schema.

Built from the response models and the real catalogue, so an example can neither drift
from the schema nor name a matter, department or material that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from onceonly.approval import (
    ApplicationState,
    ApprovalStatus,
    Clock,
    Step,
    StepKind,
    TaskState,
    TaskView,
)
from onceonly.catalogue import Catalogue, Department, Material, Matter
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.intake.progress_answer import step_text
from onceonly.intake.schemas import (
    ApplicationPage,
    ApplicationSummaryView,
    ApplicationView,
    CallerView,
    ELicenceFace,
    ELicenceVerificationView,
    Links,
    LookupsView,
    LookupView,
    MatterGuide,
    MatterList,
    MatterSummary,
    PageLinks,
    ProgressDeciding,
    ProgressExpected,
    ProgressMatter,
    ProgressName,
    ProgressRequest,
    ProgressStep,
    ProgressView,
    PublishedKeysView,
    PublishedKeyView,
    SubmissionReceipt,
    UpdateLinks,
    UpdateReceipt,
    UploadReceipt,
    WorkOrderReceipt,
)
from onceonly.intake.store import ApplicationRecord

CODE = "330100-20250303-0004276"
SELF = f"/v1/applications/{CODE}"
SUBMITTED_AT = datetime(2025, 3, 3, 1, 30, tzinfo=UTC)
ACCEPTED_AT = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
DUE_AT = datetime(2025, 3, 13, 15, 59, 59, tzinfo=UTC)
MATTER = "household-transfer"

Examples = dict[tuple[str, str], dict[str, Any]]


def response_examples(catalogue: Catalogue) -> Examples:
    """(method, path) → {status: example body} for each success answer."""
    matter = catalogue.matter(MATTER)
    assert matter is not None, f"the catalogue has no {MATTER} matter for the examples"
    update = "/v1/applications/{application_code}/"
    accepted = step_text(Step(StepKind.ACCEPTED_WITH_DEFICIENCY, ACCEPTED_AT), catalogue)
    return {
        ("get", "/health"): {"200": {"status": "ok", "problems": {}}},
        ("get", "/ready"): {"200": {"status": "ok", "problems": {}}},
        ("post", "/v1/applications"): {"201": _dump(_receipt())},
        ("get", "/v1/applications"): {"200": _dump(_page())},
        ("post", update + "supplements"): {"202": _dump(_update("supplement"))},
        ("post", update + "withdrawal"): {"202": _dump(_update("withdrawal"))},
        ("post", update + "rating"): {"202": _dump(_update("rating"))},
        ("post", "/v1/materials"): {"201": _dump(_upload())},
        ("post", "/v1/work-orders"): {
            "201": _dump(
                WorkOrderReceipt(
                    order_code="WO330100-20250305-000001",
                    kind="complaint",
                    department_code="public-security",
                    application_code=CODE,
                    caller=CallerView(name="张*", mobile="1381234****"),
                    filed_at="2025-03-05T02:15:00Z",
                )
            )
        },
        ("get", "/v1/applications/{application_code}"): {"200": _dump(_application(catalogue))},
        ("get", "/v1/applications/{application_code}/lookups"): {"200": _dump(_lookups())},
        ("get", "/v1/elicences/verification"): {
            "200": _dump(
                ELicenceVerificationView(
                    outcome="genuine",
                    reason="genuine",
                    licence=ELicenceFace(
                        number=f"EL-{CODE}",
                        licence_type="business-licence",
                        holder_masked="9133**************",
                        issuer_region=CODE.partition("-")[0],
                        issued_at="2025-03-06T07:12:00Z",
                        valid_until="",
                        key_id="k2026a",
                    ),
                )
            )
        },
        ("get", "/v1/elicences/keys"): {
            "200": _dump(
                PublishedKeysView(
                    keys=[
                        PublishedKeyView(
                            kid="k2026a",
                            alg="ed25519",
                            public_key="Y9goDXI0m9_Q8BpzrtiK8T7ycSZuZi3ocWIpDftBls4",
                        )
                    ]
                )
            )
        },
        ("get", "/v1/progress"): {
            "200": _dump(
                ProgressView(
                    application_code=CODE,
                    status="accepted_with_deficiency",
                    matter=ProgressMatter(
                        code=matter.code, name_zh=matter.name_zh, name_en=matter.name_en
                    ),
                    expected_completion=ProgressExpected(
                        date=DUE_AT.astimezone(CHINA_STANDARD_TIME).date(),
                        provisional=False,
                        paused=False,
                        working_days_left=7,
                    ),
                    deciding=[
                        ProgressDeciding(department=_name(department), state="deciding")
                        for department in _departments(catalogue, matter)
                    ],
                    to_provide=[
                        ProgressRequest(
                            department=None,
                            materials=[
                                _name(m) for m in matter.materials if m.deficiency_tolerable
                            ],
                            due_date=None,
                        )
                    ],
                    last_steps=[
                        ProgressStep(at=ACCEPTED_AT, zh=accepted.zh, en=accepted.en),
                        ProgressStep(at=SUBMITTED_AT, zh="已提交申请", en="Application submitted"),
                    ],
                )
            )
        },
        ("get", "/v1/matters"): {
            "200": _dump(MatterList(matters=[MatterSummary.of(m) for m in catalogue.matters]))
        },
        ("get", "/v1/matters/{matter_code}"): {
            "200": _dump(MatterGuide.of_matter(matter, catalogue))
        },
    }


def _name(item: Department | Material) -> ProgressName:
    return ProgressName(name_zh=item.name_zh, name_en=item.name_en)


def _departments(catalogue: Catalogue, matter: Matter) -> list[Department]:
    found = (catalogue.department(code) for code in matter.department_codes)
    return [department for department in found if department is not None]


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


def _receipt() -> SubmissionReceipt:
    return SubmissionReceipt(
        application_code=CODE,
        status="submitted",
        matter_code=MATTER,
        competent_region="330106",
        submitted_at=SUBMITTED_AT,
        links=Links(self_=SELF),
        progress_token="q8ZpX1tR0m3nVb2cY5kLwA",  # noqa: S106 (an example)
    )


def _page() -> ApplicationPage:
    older = "330100-20250302-0001234"
    return ApplicationPage(
        applications=[
            ApplicationSummaryView(
                application_code=CODE,
                status="accepted",
                matter_code=MATTER,
                submitted_at=SUBMITTED_AT,
                links=Links(self_=SELF),
            ),
            ApplicationSummaryView(
                application_code=older,
                status="completed",
                matter_code="business-startup",
                submitted_at=datetime(2025, 3, 2, 8, 15, tzinfo=UTC),
                links=Links(self_=f"/v1/applications/{older}"),
            ),
        ],
        next_cursor="WyIyMDI1LTAzLTAyVDA4OjE1OjAwKzAwOjAwIiwgIjMzMDEwMC0yMDI1MDMwMi0wMDAxMjM0Il0",
        links=PageLinks(
            next="/v1/applications?limit=2&cursor=WyIyMDI1LTAzLTAyVDA4OjE1OjAwKzAwOjAwIiwgIjMz"
            "MDEwMC0yMDI1MDMwMi0wMDAxMjM0Il0"
        ),
    )


def _update(kind: str) -> UpdateReceipt:
    return UpdateReceipt(
        application_code=CODE,
        update=kind,  # type: ignore[arg-type]
        update_id="0b6f3c1e-2d4a-4f5b-8c6d-7e8f9a0b1c2d",
        received_at=datetime(2025, 3, 4, 9, 0, tzinfo=UTC),
        links=UpdateLinks(application=SELF),
    )


def _upload() -> UploadReceipt:
    return UploadReceipt(
        reference="upload:6f1c2d4e-8a3b-4c5d-9e7f-0a1b2c3d4e5f",
        content_type="application/pdf",
        size_bytes=48213,
        sha256="3b1f5a7c9e0d2b4f6a8c0e1d3f5b7a9c1e3d5f7b9a1c3e5d7f9b1a3c5e7d9f1b",
        uploaded_at=datetime(2025, 3, 3, 1, 25, tzinfo=UTC),
    )


def _lookups() -> LookupsView:
    checked_at = datetime(2025, 3, 3, 1, 31, tzinfo=UTC)
    return LookupsView(
        application_code=CODE,
        lookups=[
            LookupView(
                check="population",
                registry="population",
                record_reference="population/3f9a0c1e2b7d4a55",
                checked_at=checked_at,
                confirmed=True,
                code="confirmed",
                reason="identity confirmed by the population registry",
                reason_zh="身份信息已核验",
                consent_reference="portal-consent/2025/03/0001",
            ),
        ],
        not_consented=["real-estate"],
    )


def _application(catalogue: Catalogue) -> ApplicationView:
    clock = Clock(committed_days=10, day_kind="natural", started_at=ACCEPTED_AT, due_at=DUE_AT)
    record = ApplicationRecord(
        application_code=CODE,
        integrator_id="",
        matter_code=MATTER,
        applicant_kind="person",
        name_sealed="",
        name_masked="张**",
        identifier_sealed="",
        identifier_masked="1101**************",
        mobile_sealed="",
        mobile_masked="1381234****",
        channels=("sms",),
        language="zh",
        materials=[
            {"code": "transfer-application", "reference": "doc://portal/2025/03/03/8f2a"},
            {"code": "resident-id", "reference": "upload:6f1c2d4e-8a3b-4c5d-9e7f-0a1b2c3d4e5f"},
            {"code": "housing-proof", "reference": "doc://portal/2025/03/03/8f2c"},
        ],
        form={
            "to_district": "西湖区",
            "reason": "工作调动",
            "spouse_name": {"sealed": "", "masked": "李**"},
        },
        status="accepted_with_deficiency",
        submitted_at=SUBMITTED_AT,
        event_id="",
        agent={
            "name": {"sealed": "", "masked": "李**"},
            "identifier": {"sealed": "", "masked": "3301**************"},
            "mobile": {"sealed": "", "masked": "1391234****"},
            "relation": "service_centre",
            "organisation": "西湖区政务服务中心",
            "authorisation": {
                "scope": ["submit", "supplement", "receive_notifications"],
                "valid_from": "2025-03-01",
                "valid_until": "2025-06-30",
                "given_by": "recorded_consent",
                "letter_reference": "",
                "consent_reference": "kiosk-consent/2025/03/0042",
            },
        },
        consents=[
            {
                "purpose": "population",
                "reference": "portal-consent/2025/03/0001",
                "given_at": "2025-03-03T01:29:00+00:00",
            }
        ],
    )
    approval = ApprovalStatus(
        state=ApplicationState.ACCEPTED_WITH_DEFICIENCY,
        missing_materials=("household-register",),
        clock=clock,
        tasks={
            "public-security": TaskView(
                department_code="public-security",
                state=TaskState.STARTED,
                task_name="户籍迁移审批",
                clock=clock,
            )
        },
        last_event_at=datetime(2025, 3, 3, 2, 0, tzinfo=UTC),
    )
    return ApplicationView.of(
        record,
        approval,
        outstanding=approval.missing_materials,
        catalogue=catalogue,
        self_link=SELF,
    )
