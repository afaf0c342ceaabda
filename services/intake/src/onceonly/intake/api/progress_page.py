"""`/progress/{code}`: the citizens' mobile progress page (H5), outside the OpenAPI
document."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import HTMLResponse

from onceonly.intake.progress_page import PROGRESS_PAGE_CSP, page_language, progress_page

router = APIRouter()


@router.get("/progress/{code}", response_class=HTMLResponse, include_in_schema=False)
async def progress_page_of(
    code: Annotated[str, Path(max_length=40)],
    lang: Annotated[str | None, Query(max_length=8)] = None,
    accept_language: Annotated[str | None, Header(max_length=512)] = None,
) -> HTMLResponse:
    # The page holds no data and never echoes the code (its script reads the path): any
    # code gets the same page, and the lookup's one 404 answers unknown ones.
    # X-Frame-Options, nosniff and Referrer-Policy come from the platform's middleware.
    del code
    return HTMLResponse(
        progress_page(page_language(lang, accept_language)),
        headers={
            "Content-Security-Policy": PROGRESS_PAGE_CSP,
            "Cache-Control": "no-store",
            "Vary": "Accept-Language",
        },
    )
