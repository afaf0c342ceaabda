"""The codec proxy's configuration: the UI origin as a browser sends it, and where the
operator's token comes from (a file read at each call, or the environment; never both,
never none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from onceonly.workflow.codec_proxy import CodecProxyError, token_reader, ui_origin


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("http://127.0.0.1:8233", "http://127.0.0.1:8233"),
        ("http://127.0.0.1:8233/", "http://127.0.0.1:8233"),
        ("https://Temporal.Example.CN", "https://temporal.example.cn"),
    ],
)
def test_the_ui_origin_is_what_a_browser_sends(given: str, origin: str) -> None:
    assert ui_origin(given) == origin


@pytest.mark.parametrize(
    "given", ["127.0.0.1:8233", "ftp://ui", "http://ui/namespaces", "http://u:p@ui", "*", ""]
)
def test_anything_but_an_origin_is_refused(given: str) -> None:
    with pytest.raises(CodecProxyError):
        ui_origin(given)


def test_a_token_file_is_read_at_each_call(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    read = token_reader(str(path), None)
    assert read() == "first"
    path.write_text("renewed")
    assert read() == "renewed"


def test_the_token_comes_from_one_place(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("t")
    assert token_reader(None, " from-env ")() == "from-env"
    with pytest.raises(CodecProxyError, match="not both"):
        token_reader(str(path), "from-env")
    with pytest.raises(CodecProxyError, match="no token"):
        token_reader(None, None)
    with pytest.raises(OSError):
        token_reader(str(tmp_path / "missing"), None)
