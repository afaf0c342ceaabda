"""The request and response bodies of the integrator API (its OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
import math
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from onceonly.approval import ApprovalStatus, Clock, TaskView
from onceonly.catalogue import Catalogue, Matter
from onceonly.intake.approval_status import NOT_EXAMINED, Status, TaskStatus
from onceonly.intake.progress_answer import DecidingState
from onceonly.intake.store import ApplicationRecord, ApplicationSummary

# A query parameter instant: `2025-03-03T08:00:00+08:00`, never a number, 1970 to 2100.
from onceonly.platform.pii import masked_form
from onceonly.platform.request_rules import Instant as Instant

PERSON_EXAMPLE: dict[str, Any] = {
    "matter_code": "household-transfer",
    "applicant": {"kind": "person", "name": "张三", "identifier": "11010519491231002X"},
    "contact": {"mobile": "13812345678", "channels": ["sms"], "language": "zh"},
    "materials": [
        {"code": "transfer-application", "reference": "doc://portal/2025/03/03/8f2a"},
        {"code": "household-register", "reference": "doc://portal/2025/03/03/8f2b"},
    ],
    "form": {"destination": "杭州市西湖区", "reason": "工作调动"},
}
ORGANISATION_EXAMPLE: dict[str, Any] = {
    "matter_code": "business-startup",
    "applicant": {
        "kind": "organisation",
        "name": "杭州示例科技有限公司",
        "identifier": "91330100716105852F",
    },
    "contact": {"mobile": "13912345678", "channels": ["sms", "app"], "language": "zh"},
    "materials": [
        {"code": "registration-form", "reference": "doc://kiosk/5521"},
        {"code": "articles-of-association", "reference": "doc://kiosk/5522"},
    ],
    "form": {"registered_capital_yuan": 1000000, "business_scope": "软件开发"},
}


FORM_MAX_DEPTH = 16


def _storable_text(value: str) -> str:
    # Postgres text and jsonb hold neither NUL characters nor lone surrogates (which
    # JSON's \u escapes can express): refuse them here rather than fail at the insert.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _storable_document(value: Any, depth: int = 0) -> Any:
    if depth > FORM_MAX_DEPTH:
        raise ValueError(f"must not nest deeper than {FORM_MAX_DEPTH} levels")
    if isinstance(value, str):
        _storable_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_text(key)
            _storable_document(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_document(item, depth + 1)
    return value


Text = Annotated[str, AfterValidator(_storable_text)]
FormData = Annotated[dict[str, Any], AfterValidator(_storable_document)]


class _Body(BaseModel):
    # Unknown fields are refused: a misspelt field would otherwise be dropped silently.
    model_config = ConfigDict(extra="forbid")


class ApplicantIn(_Body):
    kind: Literal["person", "organisation"] = Field(
        description="`person` (resident ID number) or `organisation` (unified social credit"
        " code); the matter says which it accepts"
    )
    name: Text = Field(min_length=1, max_length=200, description="Person's or organisation's name")
    identifier: Text = Field(
        min_length=1,
        max_length=40,
        description="Resident ID number (18 characters, GB 11643) or unified social credit"
        " code (18 characters, GB 32100)",
    )


class ContactIn(_Body):
    mobile: Text = Field(
        min_length=1, max_length=20, description="Mainland mobile number, 11 digits"
    )
    channels: list[Literal["sms", "app"]] = Field(
        default_factory=lambda: ["sms"],
        min_length=1,
        max_length=2,
        description="How the applicant wants to be told of progress",
    )
    language: Literal["zh", "en"] = "zh"


class MaterialIn(_Body):
    code: Text = Field(
        min_length=1, max_length=64, description="A material code of the matter (GET /v1/matters)"
    )
    reference: Text = Field(
        min_length=1,
        max_length=500,
        description="Where the document is kept (document store reference), or"
        " `upload:<id>` for a file uploaded with POST /v1/materials; not the document",
    )


class AuthorisationIn(_Body):
    scope: list[Text] = Field(
        min_length=1,
        max_length=5,
        description="What the agent may do: `submit` (required to submit), `supplement`,"
        " `withdraw`, `rate`; `receive_notifications` sends the agent the applicant's"
        " progress notices too",
        examples=[["submit", "supplement", "receive_notifications"]],
    )
    valid_from: date = Field(description="First day (China time), inclusive")
    valid_until: date = Field(
        description="Last day (China time), inclusive; at most 366 days after `valid_from`"
    )
    given_by: Literal["signed_letter", "recorded_consent"] = Field(
        description="`signed_letter`: the applicant's signed letter of authorisation"
        " (授权委托书), uploaded with POST /v1/materials and named in `letter_reference`;"
        " `recorded_consent`: a consent the integrator recorded (in its app, at its"
        " kiosk), named in `consent_reference`"
    )
    letter_reference: Text = Field(
        default="",
        max_length=500,
        description="`upload:<id>` of your own upload of the signed letter",
    )
    consent_reference: Text = Field(
        default="", max_length=200, description="Your record of the applicant's consent"
    )


class AgentIn(_Body):
    name: Text = Field(min_length=1, max_length=200, description="The agent's name")
    identifier: Text = Field(
        min_length=1, max_length=40, description="The agent's resident ID number (GB 11643)"
    )
    mobile: Text = Field(min_length=1, max_length=20, description="The agent's mobile number")
    relation: Literal["relative", "employee", "service_centre", "lawyer", "other"] = Field(
        description="How the agent stands to the applicant"
    )
    organisation: Text = Field(
        default="",
        max_length=200,
        description="The service centre or company the agent acts for, if any",
    )
    authorisation: AuthorisationIn


class ConsentIn(_Body):
    purpose: Text = Field(
        min_length=1,
        max_length=64,
        description="A shared-data check of the matter (`shared_data_checks` of"
        " GET /v1/matters/{code}): population, legal-persons, real-estate, marriage,"
        " social-insurance, credit, e-licences",
        examples=["population"],
    )
    reference: Text = Field(
        min_length=1, max_length=200, description="Your record of the applicant's consent"
    )
    given_at: datetime | None = Field(
        default=None, description="When the applicant consented (default: submission time)"
    )


class ApplicationIn(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [PERSON_EXAMPLE, ORGANISATION_EXAMPLE]}
    )

    matter_code: Text = Field(min_length=1, max_length=64, description="From GET /v1/matters")
    applicant: ApplicantIn
    contact: ContactIn
    materials: list[MaterialIn] = Field(default_factory=list, max_length=100)
    form: FormData = Field(
        default_factory=dict,
        description="The matter's form, as its `form_schema` (GET /v1/matters/{code})"
        " describes it: unknown fields are refused; fields marked `x-personal` (a"
        " spouse's name, ID number, mobile) are checked like the applicant's, stored"
        " sealed and only ever shown masked",
    )
    agent: AgentIn | None = Field(
        default=None,
        description="帮代办: the person submitting on the applicant's behalf and the"
        " applicant's authorisation. Its personal fields are sealed like the applicant's"
        " and only ever shown masked; the authorisation must cover `submit` today",
    )
    region_code: str | None = Field(
        default=None,
        pattern=r"^(?:[0-9]{6}|[0-9]{9})$",
        description="全省通办: the division the application concerns (the premises, the"
        " project, the household), six digits (GB/T 2260) or a nine-digit township code;"
        " it goes to the bodies of the matter's competent level there, wherever it is"
        " submitted. Default: the service centre's own division",
        examples=["330106001"],
    )
    consents: list[ConsentIn] = Field(
        default_factory=list,
        max_length=10,
        description="授权: the applicant's consent to each shared-data check, by purpose."
        " A check without consent is not run: its material is asked for instead, and"
        " the application cannot be auto-approved (秒批)",
    )


MadeBy = Literal["applicant", "agent"]
_MADE_BY = Field(
    default="applicant",
    description="`agent` when the application's agent makes this update: accepted only"
    " within the authorisation's scope and validity, otherwise 403",
)


class SupplementIn(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"materials": [{"code": "household-register", "reference": "doc://portal/9"}]}
            ]
        },
    )

    materials: list[MaterialIn] = Field(
        min_length=1, max_length=100, description="Materials of the application's matter"
    )
    made_by: MadeBy = _MADE_BY


class WithdrawalIn(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "不再需要"}]}
    )

    reason: Text = Field(min_length=1, max_length=500, description="Why the applicant withdraws")
    made_by: MadeBy = _MADE_BY


class RatingIn(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"level": 5, "comment": "办事很快"}]}
    )

    level: int = Field(ge=1, le=5, description="1 very dissatisfied .. 5 very satisfied (好差评)")
    comment: Text = Field(default="", max_length=500)
    department_code: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]{1,40}$",
        description="The step rated: one of the matter's departments (default: its lead"
        " department, or its only one)",
    )
    made_by: MadeBy = _MADE_BY


class Links(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    self_: str = Field(alias="self", examples=["/v1/applications/330100-20250303-0004276"])


class SubmissionReceipt(BaseModel):
    application_code: str = Field(
        description="统一办件编码: `{region}-{yyyymmdd}-{sequence}{check}`",
        examples=["330100-20250303-0004276"],
    )
    status: Literal["submitted"]
    matter_code: str = Field(examples=["household-transfer"])
    competent_region: str = Field(
        description="The division whose bodies decide the application (GB/T 2260)",
        examples=["330106"],
    )
    submitted_at: datetime
    links: Links
    progress_token: str = Field(
        description="The application's lookup token, for the link the integrator sends the"
        " applicant (SMS, app): `/v1/progress?code={application_code}&token={progress_token}`"
        " opens the citizen progress lookup without typing digits, and so does the mobile"
        " progress page `/progress/{application_code}#t={progress_token}` (in the"
        " fragment, which no server log sees). Treat it like a password of this one"
        " application's status.",
        examples=["q8ZpX1tR0m3nVb2cY5kLwA"],
    )


class UploadReceipt(BaseModel):
    reference: str = Field(
        description="Use as a material's `reference` in applications and supplements",
        examples=["upload:6f1c2d4e-8a3b-4c5d-9e7f-0a1b2c3d4e5f"],
    )
    content_type: Literal["application/pdf", "image/png", "image/jpeg"]
    size_bytes: int = Field(examples=[48213])
    sha256: str = Field(description="Hex SHA-256 of the content", examples=["9f86d0" + "0" * 58])
    uploaded_at: datetime


class UpdateLinks(BaseModel):
    application: str = Field(examples=["/v1/applications/330100-20250303-0004276"])


class UpdateReceipt(BaseModel):
    application_code: str = Field(examples=["330100-20250303-0004276"])
    update: Literal["supplement", "withdrawal", "rating"]
    update_id: str = Field(description="The id of the event announcing the update (a UUID)")
    received_at: datetime
    links: UpdateLinks


class ApplicantView(BaseModel):
    kind: Literal["person", "organisation"]
    name: str = Field(description="Masked for people (张**); organisations' names in full")
    identifier: str = Field(description="Masked", examples=["1101**************"])


class ContactView(BaseModel):
    mobile: str = Field(description="Masked", examples=["1381234****"])
    channels: list[str]
    language: str


class AuthorisationView(BaseModel):
    scope: list[str] = Field(examples=[["submit", "supplement", "receive_notifications"]])
    valid_from: date
    valid_until: date
    given_by: Literal["signed_letter", "recorded_consent"]
    letter_reference: str
    consent_reference: str


class AgentView(BaseModel):
    """The agent (帮代办), masked like the applicant."""

    name: str = Field(description="Masked", examples=["李**"])
    identifier: str = Field(description="Masked", examples=["3301**************"])
    mobile: str = Field(description="Masked", examples=["1391234****"])
    relation: str = Field(examples=["service_centre"])
    organisation: str
    authorisation: AuthorisationView

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> AgentView | None:
        if not stored:
            return None
        return cls(
            name=stored["name"]["masked"],
            identifier=stored["identifier"]["masked"],
            mobile=stored["mobile"]["masked"],
            relation=stored["relation"],
            organisation=stored.get("organisation", ""),
            authorisation=AuthorisationView(**stored["authorisation"]),
        )


class ConsentView(BaseModel):
    purpose: str = Field(examples=["population"])
    reference: str
    given_at: datetime


class MaterialView(BaseModel):
    code: str
    reference: str


class ClockView(BaseModel):
    committed_days: int = Field(examples=[10])
    day_kind: str = Field(description="`working` or `natural` days", examples=["working"])
    started_at: datetime | None = Field(description="When the clock started (acceptance)")
    due_at: datetime | None = Field(description="The committed deadline")
    paused: bool = Field(
        description="Stopped: waiting for a supplement or a special procedure (特别程序)"
    )
    provisional: bool = Field(
        description="An estimate: computed past the published holiday calendar (weekends"
        " and the holidays the law fixes skipped, make-up days unknown); may still move"
    )

    @classmethod
    def of(cls, clock: Clock | None) -> ClockView | None:
        if clock is None:
            return None
        return cls(
            committed_days=clock.committed_days,
            day_kind=clock.day_kind or "working",
            started_at=clock.started_at,
            due_at=clock.due_at,
            paused=clock.paused,
            provisional=clock.provisional,
        )


class DepartmentProgressView(BaseModel):
    department_code: str = Field(examples=["public-security"])
    name_zh: str = Field(examples=["公安局"])
    name_en: str = Field(examples=["Public Security Bureau"])
    task_name: str
    state: TaskStatus = Field(description="This department's task")
    clock: ClockView | None = Field(description="This department's own clock")
    reason: str | None = Field(description="Why it decided so, or what it asks for")
    decided_at: datetime | None
    special_procedure: str | None = Field(
        description="Running special procedure (expert_review, hearing, public_notice,"
        " on_site_inspection): its time does not count",
    )


class MissingMaterialView(BaseModel):
    code: str = Field(examples=["household-register"])
    name_zh: str = Field(examples=["户口簿"])
    name_en: str = Field(examples=["Household register"])


class ApplicationView(BaseModel):
    application_code: str = Field(examples=["330100-20250303-0004276"])
    status: Status = Field(
        description="Where the approval stands, from the workflow's events (a moment"
        " behind it): `submitted` until the application is examined"
    )
    status_reason: str | None = Field(description="Why it was refused, rejected or withdrawn")
    status_updated_at: datetime | None = Field(
        description="When the approval last reported a change (null: not examined yet)"
    )
    matter_code: str
    applicant: ApplicantView
    contact: ContactView
    materials: list[MaterialView]
    form: dict[str, Any] = Field(
        description="The form as sent, its personal fields masked",
        examples=[{"to_district": "西湖区", "spouse_name": "李**"}],
    )
    missing_materials: list[MissingMaterialView] = Field(
        description="Asked for and not yet supplied (一次性告知): send them as a supplement"
    )
    clock: ClockView | None = Field(description="The application's overall clock")
    departments: list[DepartmentProgressView] = Field(
        description="Each department's task and clock (并联审批), once started"
    )
    elicence_number: str | None = Field(description="The e-licence issued on completion")
    agent: AgentView | None = Field(
        default=None, description="Who submitted on the applicant's behalf (帮代办), masked"
    )
    consents: list[ConsentView] = Field(
        default_factory=list, description="The shared-data checks the applicant consented to"
    )
    submitted_at: datetime
    links: Links

    @classmethod
    def of(
        cls,
        record: ApplicationRecord,
        approval: ApprovalStatus | None,
        *,
        outstanding: tuple[str, ...],
        catalogue: Catalogue,
        self_link: str,
    ) -> ApplicationView:
        state = approval or NOT_EXAMINED
        matter = catalogue.matter(record.matter_code)
        materials = {m.code: m for m in matter.materials} if matter else {}
        return cls(
            application_code=record.application_code,
            status=state.state.value,
            status_reason=state.reason or None,
            status_updated_at=state.last_event_at,
            matter_code=record.matter_code,
            applicant=ApplicantView(
                kind=record.applicant_kind,  # type: ignore[arg-type]
                name=record.name_masked,
                identifier=record.identifier_masked,
            ),
            contact=ContactView(
                mobile=record.mobile_masked,
                channels=list(record.channels),
                language=record.language,
            ),
            materials=[MaterialView(**material) for material in record.materials],
            form=_masked(record.form),
            missing_materials=[
                MissingMaterialView(
                    code=code,
                    name_zh=materials[code].name_zh if code in materials else code,
                    name_en=materials[code].name_en if code in materials else code,
                )
                for code in outstanding
            ],
            clock=ClockView.of(state.clock),
            departments=[
                _department(code, task, catalogue) for code, task in sorted(state.tasks.items())
            ],
            elicence_number=state.elicence_number or None,
            agent=AgentView.of(record.agent),
            consents=[ConsentView(**consent) for consent in record.consents],
            submitted_at=record.submitted_at,
            links=Links(self_=self_link),
        )


def _masked(form: dict[str, Any]) -> dict[str, Any]:
    masked = masked_form(form)
    return masked if isinstance(masked, dict) else {}


def _department(code: str, task: TaskView, catalogue: Catalogue) -> DepartmentProgressView:
    department = catalogue.department(code)
    return DepartmentProgressView(
        department_code=code,
        name_zh=department.name_zh if department else code,
        name_en=department.name_en if department else code,
        task_name=task.task_name,
        state=task.state_or_started.value,
        clock=ClockView.of(task.clock),
        reason=task.reason or None,
        decided_at=task.decided_at,
        special_procedure=task.special_procedure,
    )


class ApplicationSummaryView(BaseModel):
    application_code: str = Field(examples=["330100-20250303-0004276"])
    status: Status = Field(examples=["accepted"])
    matter_code: str = Field(examples=["household-transfer"])
    competent_region: str = Field(
        default="",
        description="The division whose bodies decide it (GB/T 2260)",
        examples=["330106"],
    )
    submitted_at: datetime
    links: Links

    @classmethod
    def of(cls, summary: ApplicationSummary, *, self_link: str) -> ApplicationSummaryView:
        return cls(
            application_code=summary.application_code,
            status=summary.status,
            matter_code=summary.matter_code,
            competent_region=summary.competent_region,
            submitted_at=summary.submitted_at,
            links=Links(self_=self_link),
        )


class PageLinks(BaseModel):
    next: str | None = Field(
        description="The next page (same filters), or null on the last page",
        examples=["/v1/applications?limit=20&cursor=WyIyMDI1LTAzLTAzVDA4OjMwOjAwKzAwOjAwIl0"],
    )


class ApplicationPage(BaseModel):
    applications: list[ApplicationSummaryView]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
    links: PageLinks


class LookupView(BaseModel):
    """One shared-data check made for the applicant (免证办): which registry answered,
    which record, when, and what it confirmed or denied."""

    check: str = Field(examples=["population"])
    registry: str = Field(examples=["population"])
    record_reference: str = Field(
        description="The registry's record (a certificate or licence number, or the"
        " registry's opaque record key); never an identifier in the clear",
        examples=["population/3f9a0c1e2b7d4a55"],
    )
    checked_at: datetime
    confirmed: bool = Field(description="True: the fact was confirmed; false: denied")
    code: str = Field(examples=["confirmed"])
    reason: str = Field(examples=["identity confirmed by the population registry"])
    reason_zh: str = Field(examples=["身份信息已核验"])
    consent_reference: str = Field(description="The applicant's consent it ran under")


class LookupsView(BaseModel):
    application_code: str = Field(examples=["330100-20250303-0004276"])
    lookups: list[LookupView]
    not_consented: list[str] = Field(
        description="Checks the matter names that were not run for want of consent"
    )


class ProgressMatter(BaseModel):
    code: str = Field(examples=["household-transfer"])
    name_zh: str = Field(examples=["户籍迁移"])
    name_en: str = Field(examples=["Household registration transfer"])


class ProgressLookup(BaseModel):
    check: str = Field(examples=["population"])
    registry: str = Field(examples=["population"])
    checked_at: datetime
    confirmed: bool
    reason: str = Field(examples=["identity confirmed by the population registry"])
    reason_zh: str = Field(examples=["身份信息已核验"])


class ProgressName(BaseModel):
    name_zh: str = Field(examples=["公安局"])
    name_en: str = Field(examples=["Public Security Bureau"])


class ProgressExpected(BaseModel):
    date: dt.date = Field(
        description="Expected completion (办结) date, China Standard Time",
        examples=["2025-03-17"],
    )
    provisional: bool = Field(
        description="An estimate: counted past the last published holiday notice (only"
        " the law's holidays are known), so it may still move when the notice is out"
    )
    paused: bool = Field(
        description="A clock stands still (waiting for a supplement or a special"
        " procedure): the date moves later by the time it stands"
    )
    working_days_left: int = Field(
        description="Working days after today up to the date: 0 on the day itself,"
        " negative when it has passed",
        examples=[7],
    )


class ProgressDeciding(BaseModel):
    department: ProgressName
    state: DecidingState


class ProgressRequest(BaseModel):
    department: ProgressName | None = Field(
        description="The department that asked; null: the window, at acceptance"
    )
    materials: list[ProgressName]
    due_date: dt.date | None = Field(
        description="Provide by this day (China Standard Time); null: no deadline told"
        " (items accepted with deficiency are due before completion)",
        examples=["2025-03-23"],
    )


class ProgressStep(BaseModel):
    at: datetime
    zh: str = Field(examples=["公安局开始审查"])
    en: str = Field(examples=["Public Security Bureau started its review"])


class ProgressView(BaseModel):
    """Status and matter, and when (in working days): nothing about the applicant, not
    even masked, and no staff."""

    application_code: str = Field(examples=["330100-20250303-0004276"])
    status: Status = Field(examples=["accepted"])
    matter: ProgressMatter
    lookups: list[ProgressLookup] = Field(
        default_factory=list,
        description="What was looked up for the applicant in base registries, and when"
        " (免证办); no record references here",
    )
    expected_completion: ProgressExpected | None = Field(
        default=None,
        description="null before acceptance, while acceptance waits for a supplement,"
        " and once finished",
    )
    deciding: list[ProgressDeciding] = Field(
        default_factory=list, description="The departments whose part is still open"
    )
    to_provide: list[ProgressRequest] = Field(
        default_factory=list,
        description="What the applicant must still provide, and by when (补正/容缺)",
    )
    last_steps: list[ProgressStep] = Field(
        default_factory=list, description="The latest steps in plain words, newest first"
    )


class DepartmentTaskView(BaseModel):
    department_code: str
    department_zh: str
    department_en: str
    task_zh: str
    task_en: str
    committed_days: int
    legal_days: int | None


class MaterialGuide(BaseModel):
    code: str
    name_zh: str
    name_en: str
    deficiency_tolerable: bool = Field(
        description="容缺: may follow after acceptance, before completion"
    )
    replaced_by_check: str | None = Field(
        description="免证办: not needed when this shared-data check confirms the fact"
    )


class MatterSummary(BaseModel):
    code: str = Field(examples=["household-transfer"])
    name_zh: str = Field(examples=["户籍迁移"])
    name_en: str = Field(examples=["Household registration transfer"])
    kind: Literal["instant", "committed"]
    applicant_kinds: Literal["person", "organisation", "any"]
    day_kind: Literal["working", "natural"]
    committed_days: int
    departments: list[str]
    links: Links

    @classmethod
    def of(cls, matter: Matter) -> MatterSummary:
        return cls(
            code=matter.code,
            name_zh=matter.name_zh,
            name_en=matter.name_en,
            kind=matter.kind.value,
            applicant_kinds=matter.applicant_kinds.value,
            day_kind=matter.day_kind.value,
            committed_days=matter.committed_days,
            departments=list(matter.department_codes),
            links=Links(self_=f"/v1/matters/{matter.code}"),
        )


class MatterList(BaseModel):
    matters: list[MatterSummary]


class MatterGuide(MatterSummary):
    bundle: bool
    legal_days: int | None
    tasks: list[DepartmentTaskView]
    materials: list[MaterialGuide]
    shared_data_checks: list[str]
    auto_approval: bool
    joint_inspection_allowed: bool
    fee_yuan: float
    form_schema: dict[str, Any] = Field(
        description="JSON Schema (draft 2020-12) of the application's `form`; `x-personal`"
        " marks personal fields (name, id_number, mobile), sealed and shown masked"
    )

    @classmethod
    def of_matter(cls, matter: Matter, catalogue: Catalogue) -> MatterGuide:
        tasks = []
        for task in matter.tasks:
            department = catalogue.department(task.department)
            tasks.append(
                DepartmentTaskView(
                    department_code=task.department,
                    department_zh=department.name_zh if department else task.department,
                    department_en=department.name_en if department else task.department,
                    task_zh=task.task_zh,
                    task_en=task.task_en,
                    committed_days=task.committed_days,
                    legal_days=task.legal_days,
                )
            )
        return cls(
            **MatterSummary.of(matter).model_dump(by_alias=False),
            bundle=matter.bundle,
            legal_days=matter.legal_days,
            tasks=tasks,
            materials=[
                MaterialGuide(
                    code=material.code,
                    name_zh=material.name_zh,
                    name_en=material.name_en,
                    deficiency_tolerable=material.deficiency_tolerable,
                    replaced_by_check=material.replaced_by_check,
                )
                for material in matter.materials
            ],
            shared_data_checks=list(matter.shared_data_checks),
            auto_approval=matter.auto_approval,
            joint_inspection_allowed=matter.joint_inspection_allowed,
            fee_yuan=matter.fee_yuan,
            form_schema=matter.form_schema,
        )


class FieldErrorView(BaseModel):
    field: str = Field(examples=["applicant.identifier"])
    in_: str = Field(alias="in", examples=["body"])
    code: str = Field(examples=["check_digit"])
    message: str = Field(examples=["The check digit does not match; the number is mistyped."])
    message_zh: str = Field(examples=["校验码不正确, 号码可能输入有误."])


class ProblemView(BaseModel):
    """RFC 9457 problem details (media type application/problem+json)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://onceonly.dev/problems/validation",
                    "title": "Invalid request",
                    "status": 422,
                    "instance": "/v1/applications",
                    "detail": "One or more fields are invalid; see `errors`."
                    " 请求中有字段不合法, 详见 errors.",
                    "errors": [
                        {
                            "field": "applicant.identifier",
                            "in": "body",
                            "code": "check_digit",
                            "message": "The check digit does not match; the number is mistyped.",
                            "message_zh": "校验码不正确, 号码可能输入有误.",
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(examples=["https://onceonly.dev/problems/validation"])
    title: str
    status: int
    instance: str
    detail: str | None = None
    errors: list[FieldErrorView] | None = None


class ELicenceFace(BaseModel):
    """What the licence itself shows, from its signed payload; the holder masked."""

    number: str = Field(examples=["EL-330100-20250303-0004276"])
    licence_type: str = Field(examples=["business-licence"])
    holder_masked: str = Field(examples=["9133**************"])
    issuer_region: str = Field(examples=["330100"])
    issued_at: str = Field(examples=["2025-03-06T07:12:00Z"])
    valid_until: str = Field(description="Empty for a long-term licence", examples=[""])
    key_id: str = Field(examples=["k2026a"])


class ELicenceVerificationView(BaseModel):
    """`genuine`, `revoked`, `expired` or `unknown` (malformed, tampered with, signed by a
    key that is not published, or no licence of its number on record)."""

    outcome: Literal["genuine", "revoked", "expired", "unknown"]
    reason: str = Field(examples=["genuine"])
    # Only when the signature holds: an unknown token shows nothing.
    licence: ELicenceFace | None = None


class PublishedKeyView(BaseModel):
    kid: str = Field(examples=["k2026a"])
    alg: str = Field(examples=["ed25519"])
    public_key: str = Field(description="Raw public key, base64url without padding")


class PublishedKeysView(BaseModel):
    keys: list[PublishedKeyView]


# 12345 hotline work orders (api/work_orders.py)


class CallerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100, description="The caller's name")
    mobile: Text = Field(min_length=1, max_length=20, description="Mainland mobile, 11 digits")


class WorkOrderIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "complaint",
                    "content": "办件超期未办结",
                    "caller": {"name": "张三", "mobile": "13800138000"},
                    "application_code": "330100-20250303-0004276",
                    "hotline_reference": "12345-20250305-0001",
                }
            ]
        },
    )

    kind: Literal["complaint", "consultation", "request"]
    content: Text = Field(min_length=1, max_length=4000, description="What the caller said")
    caller: CallerIn
    application_code: Text | None = Field(
        default=None, min_length=6, max_length=40, description="The application it concerns"
    )
    department_code: Text | None = Field(
        default=None,
        min_length=2,
        max_length=41,
        description="The department concerned; default: the application's lead department",
    )
    hotline_reference: Text = Field(default="", max_length=64)
    language: Literal["zh", "en"] = "zh"


class CallerView(BaseModel):
    name: str
    mobile: str


class WorkOrderReceipt(BaseModel):
    order_code: str
    kind: str
    department_code: str
    application_code: str | None
    caller: CallerView  # masked
    filed_at: str
