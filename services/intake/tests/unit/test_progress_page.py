"""The mobile progress page: its language, and a CSP that allows exactly its own inline
script and style in either language."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from onceonly.intake.progress_page import PROGRESS_PAGE_CSP, page_language, progress_page


@pytest.mark.parametrize(
    ("asked", "header", "language"),
    [
        ("en", "zh-CN", "en"),
        ("zh", "en", "zh"),
        ("fr", "en-GB,en;q=0.9", "en"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "fr-FR, en;q=0.5, zh;q=0.7", "zh"),
        (None, "en;q=0, zh-TW;q=0.1", "zh"),
        (None, "EN", "en"),
        (None, "fr", "zh"),
        (None, "en;q=abc", "zh"),
        (None, None, "zh"),
    ],
)
def test_the_language_follows_the_switch_then_accept_language_then_chinese(
    asked: str | None, header: str | None, language: str
) -> None:
    assert page_language(asked, header) == language


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_csp_allows_exactly_the_page_s_inline_blocks(language: str) -> None:
    page = progress_page(language)  # type: ignore[arg-type]
    assert f'data-lang="{language}"' in page and "__" not in page.split("<style>")[0]
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        (block,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        (sources,) = [d for d in PROGRESS_PAGE_CSP.split("; ") if d.startswith(directive)]
        assert sources == f"{directive} 'sha256-{digest}'"
    assert "default-src 'none'" in PROGRESS_PAGE_CSP
    assert "unsafe" not in PROGRESS_PAGE_CSP
    # No inline handlers or style attributes (the CSP would block them).
    assert not re.search(r"\son[a-z]+=|\sstyle=", page)
