"""The department's supervision cases (督办件) and rectifications of bad ratings (差评整改).

`GET /v1/supervision-cases` and `GET /v1/rectifications` list them, paged, from the list
the publishing activity keeps (`onceonly.workflow.case_list`: one read, no Temporal query
per case). The steps of a rectification (the callback to the rater, what was rectified,
the written answer, the rater's view of it) and the response to a supervision case are
each a Temporal Update of the case's workflow, whose validator has the last word. Another
department's case is the same 404 as an unknown one; a role that may not act is a 403:
rectifications are worked by reviewers and the department head, a case is answered by
the head (督办 is addressed to the head of the body).
"""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from onceonly.platform.auth import StaffIdentity
from onceonly.platform.http import Problem
from onceonly.workflow.api.dependencies import Staff, State, Workflows, acting
from onceonly.workflow.api.paging import cursor_after, position
from onceonly.workflow.api.workflow_client import ApplicationReach, not_found
from onceonly.workflow.case_list import PostgresCaseList
from onceonly.workflow.case_shared import (
    RECTIFICATION_KIND,
    SUPERVISION_CASE_KIND,
    CaseResponseInput,
    RectificationStepInput,
)
from onceonly.workflow.cases import (
    MAX_COMMENT,
    MAX_TEXT,
    RECTIFYING_ROLES,
    RESPONDING_ROLES,
    RectificationStep,
)
from onceonly.workflow.rectification_workflow import Rectification
from onceonly.workflow.supervision_case_workflow import SupervisionCase

router = APIRouter(tags=["supervision cases"])
RECTIFICATION_PATH = "/v1/rectifications/{case_code}"
CASE_PATH = "/v1/supervision-cases/{case_code}"
_CHANGE_RESPONSES: dict[int | str, dict[str, object]] = {403: {}, 404: {}, 409: {}, 422: {}}

RectificationCode = Annotated[str, Path(pattern=r"^ZG-[A-Za-z0-9-]{6,40}$")]
CaseCode = Annotated[str, Path(pattern=r"^DB-[A-Za-z0-9-]{6,100}$")]


def case_list(state: State) -> PostgresCaseList:
    assert state.pool is not None  # opened by the lifespan
    return PostgresCaseList(state.pool)


Cases = Annotated[PostgresCaseList, Depends(case_list)]


def _holding(roles: frozenset[str], what: str):  # type: ignore[no-untyped-def]
    def dependency(who: Staff) -> StaffIdentity:
        if not roles.intersection(who.roles):
            names = " and ".join(sorted(roles))
            raise Problem(403, "Forbidden", f"Only {names} {what}. 无此权限.")
        return who

    return dependency


# Reviewers and the head: they work on rectifications and read their cases.
CaseWorker = Annotated[
    StaffIdentity, Depends(_holding(RECTIFYING_ROLES, "work on rectifications and cases"))
]
Responder = Annotated[
    StaffIdentity, Depends(_holding(RESPONDING_ROLES, "respond to supervision cases"))
]


class RectificationOut(BaseModel):
    case_code: str
    application_code: str
    matter_code: str
    department_code: str
    rating_level: int
    rating_comment: str
    rated_at: datetime
    status: str
    level: str = Field(description="Of its clock: none, yellow, red")
    limit_days: int
    due_at: datetime | None
    yellow_at: datetime | None
    called_back_at: datetime | None
    callback_note: str
    rectified_at: datetime | None
    measures: str
    answered_at: datetime | None
    answer: str
    late: bool | None
    rater_satisfied: bool | None
    rater_comment: str
    closed_at: datetime | None


class SupervisionCaseOut(BaseModel):
    case_code: str
    application_code: str
    matter_code: str
    department_code: str
    clock_department_code: str = Field(description="The late clock; empty: the application's")
    status: str
    level: int
    addressee: str
    opened_at: datetime
    clock_due_at: datetime | None
    response_due_at: datetime | None
    responded_at: datetime | None
    response: str
    late: bool | None


class RectificationPage(BaseModel):
    items: list[RectificationOut]
    next_cursor: str | None


class SupervisionCasePage(BaseModel):
    items: list[SupervisionCaseOut]
    next_cursor: str | None


def _text(limit: int, description: str) -> Any:
    return Field(min_length=1, max_length=limit, description=description)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class CallbackIn(_Body):
    note: str = _text(MAX_TEXT, "What the rater said when called back (回访核实)")
    _note = field_validator("note")(_not_blank)


class RectificationIn(_Body):
    measures: str = _text(MAX_TEXT, "What the department put right (整改措施)")
    _measures = field_validator("measures")(_not_blank)


class AnswerIn(_Body):
    answer: str = _text(MAX_TEXT, "The written answer to the rater (书面答复)")
    _answer = field_validator("answer")(_not_blank)


class RaterViewIn(_Body):
    satisfied: bool = Field(description="The rater's view of the answer")
    comment: str = Field(default="", max_length=MAX_COMMENT)


class ResponseIn(_Body):
    response: str = _text(MAX_TEXT, "The department's written response (书面反馈)")
    _response = field_validator("response")(_not_blank)


async def _page(
    cases: PostgresCaseList,
    kind: str,
    who: StaffIdentity,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    rows = await cases.page(
        kind, who.department_code, status=status, after=position(cursor), limit=limit + 1
    )
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    return page, cursor_after(page[-1]["_opened_at"], page[-1]["case_code"])


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in ("_opened_at", "version")}


def _out_case(item: dict[str, Any]) -> SupervisionCaseOut:
    shown = _shown(item)
    shown["clock_due_at"] = shown.get("clock_due_at") or None
    return SupervisionCaseOut(**shown)


@router.get(
    "/v1/rectifications",
    response_model=RectificationPage,
    summary="My department's rectifications of bad ratings (差评整改)",
)
async def list_rectifications(
    who: CaseWorker,
    cases: Cases,
    status: Literal["open", "called_back", "rectified", "answered", "closed"] | None = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RectificationPage:
    page, next_cursor = await _page(
        cases, RECTIFICATION_KIND, who, status=status, cursor=cursor, limit=limit
    )
    return RectificationPage(
        items=[RectificationOut(**_shown(item)) for item in page], next_cursor=next_cursor
    )


@router.get(
    "/v1/supervision-cases",
    response_model=SupervisionCasePage,
    summary="My department's supervision cases (督办件)",
)
async def list_supervision_cases(
    who: CaseWorker,
    cases: Cases,
    status: Literal["open", "closed"] | None = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SupervisionCasePage:
    page, next_cursor = await _page(
        cases, SUPERVISION_CASE_KIND, who, status=status, cursor=cursor, limit=limit
    )
    return SupervisionCasePage(items=[_out_case(item) for item in page], next_cursor=next_cursor)


async def _own(
    kind: str, who: StaffIdentity, code: str, cases: PostgresCaseList
) -> ApplicationReach:
    department = await cases.department_of(kind, code)
    if department is None or department != who.department_code:
        raise not_found()
    return ApplicationReach(code=code, matter_code="", departments=(department,), running=True)


async def _step(
    who: StaffIdentity,
    code: str,
    cases: PostgresCaseList,
    workflows: Any,
    step: RectificationStep,
    *,
    text: str,
    satisfied: bool = False,
) -> RectificationOut:
    reach = await _own(RECTIFICATION_KIND, who, code, cases)
    view = await workflows.update(
        reach,
        Rectification.record_step,
        RectificationStepInput(**acting(who), step=step.value, text=text, satisfied=satisfied),
    )
    return RectificationOut.model_validate(view, from_attributes=True)


@router.post(
    RECTIFICATION_PATH + "/callback", response_model=RectificationOut, responses=_CHANGE_RESPONSES
)
async def record_callback(
    who: CaseWorker,
    case_code: RectificationCode,
    body: CallbackIn,
    cases: Cases,
    workflows: Workflows,
) -> RectificationOut:
    """The rater was called back (回访核实): the first step."""
    return await _step(who, case_code, cases, workflows, RectificationStep.CALLBACK, text=body.note)


@router.post(
    RECTIFICATION_PATH + "/rectification",
    response_model=RectificationOut,
    responses=_CHANGE_RESPONSES,
)
async def record_rectification(
    who: CaseWorker,
    case_code: RectificationCode,
    body: RectificationIn,
    cases: Cases,
    workflows: Workflows,
) -> RectificationOut:
    """What the department put right (整改), after the callback."""
    return await _step(
        who, case_code, cases, workflows, RectificationStep.RECTIFICATION, text=body.measures
    )


@router.post(
    RECTIFICATION_PATH + "/answer", response_model=RectificationOut, responses=_CHANGE_RESPONSES
)
async def answer(
    who: CaseWorker,
    case_code: RectificationCode,
    body: AnswerIn,
    cases: Cases,
    workflows: Workflows,
) -> RectificationOut:
    """The written answer (书面答复), after the rectification: it stops the clock (on time
    until the end of the limit's last working day)."""
    return await _step(who, case_code, cases, workflows, RectificationStep.ANSWER, text=body.answer)


@router.post(
    RECTIFICATION_PATH + "/view", response_model=RectificationOut, responses=_CHANGE_RESPONSES
)
async def record_view(
    who: CaseWorker,
    case_code: RectificationCode,
    body: RaterViewIn,
    cases: Cases,
    workflows: Workflows,
) -> RectificationOut:
    """The rater's view of the answer, after it: closes the rectification."""
    return await _step(
        who,
        case_code,
        cases,
        workflows,
        RectificationStep.VIEW,
        text=body.comment,
        satisfied=body.satisfied,
    )


@router.post(
    CASE_PATH + "/response", response_model=SupervisionCaseOut, responses=_CHANGE_RESPONSES
)
async def respond(
    who: Responder, case_code: CaseCode, body: ResponseIn, cases: Cases, workflows: Workflows
) -> SupervisionCaseOut:
    """The department's written response (书面反馈): the only way a case closes."""
    reach = await _own(SUPERVISION_CASE_KIND, who, case_code, cases)
    view = await workflows.update(
        reach,
        SupervisionCase.respond,
        CaseResponseInput(**acting(who), response=body.response),
    )
    return _out_case(asdict(view))
