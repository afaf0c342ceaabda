"""The structure of an uploaded material, checked by parsing it, not by its first bytes.

- PDF: parsed (pypdf), not encrypted, at least one page, and no active content
  (JavaScript, launch actions, embedded or attached files, rich media, XFA forms).
  pypdf bounds every stream it decompresses (75 MB, its `Configuration`); only the
  cross-reference and object streams are decompressed here, never page contents.
- PNG and JPEG: walked chunk by chunk (marker by marker) to their end, with nothing after
  it (a PNG header before an executable is refused), the dimensions read and bounded
  before any pixel is decoded (a decompression bomb costs nothing), then verified and
  decoded in full (Pillow).

No archive (zip-based) type is accepted, so none is expanded.
Everything here is CPU only, for a thread: no I/O, no framework.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from typing import Any

from PIL import ImageFile, JpegImagePlugin, PngImagePlugin
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

# pypdf reports what it repairs in malformed files as warnings of this logger: the
# upload's answer says what matters, and the log would fill with the uploads' quirks.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# Names that make a PDF run something or carry another file (ISO 32000-1 12.6, 7.11).
ACTIVE_PDF_NAMES = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/Launch",
        "/EF",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/FileAttachment",
        "/RichMedia",
        "/XFA",
        "/ImportData",
        "/SubmitForm",
    }
)
# Objects walked in one PDF; a larger graph is refused rather than walked for long.
MAX_PDF_OBJECTS = 200_000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ContentRefused(ValueError):
    """Content that is not a well-formed, passive file of its type; `code` names why."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh


def check_pdf(data: bytes) -> int:
    """The page count of a well-formed, unencrypted PDF without active content."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
        pages = 0 if encrypted else len(reader.pages)
        active = None if encrypted else _active_name(reader)
    except ContentRefused:
        raise
    except Exception:  # an untrusted file may fail the parser anywhere
        raise _malformed("PDF") from None
    if encrypted:
        raise ContentRefused(
            "encrypted_pdf",
            "The PDF is encrypted or password-protected; upload it without protection.",
            "PDF 文件已加密或设有密码, 请上传未加密的文件.",
        )
    if pages < 1:
        raise ContentRefused("malformed", "The PDF has no pages.", "PDF 文件没有页面.")
    if active is not None:
        raise ContentRefused(
            "active_content",
            "The PDF has scripts, actions or embedded files; upload a plain document"
            " (print it to PDF again).",
            "PDF 文件含有脚本, 动作或嵌入文件, 请上传普通文档 (可重新打印为 PDF).",
        )
    return pages


def _active_name(reader: PdfReader) -> str | None:
    """The first active-content name reachable from the trailer, or None."""
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    walked = 0
    while stack:
        node = stack.pop()
        if isinstance(node, IndirectObject):
            ref = (node.idnum, node.generation)
            if ref in seen:
                continue
            seen.add(ref)
            node = node.get_object()
        walked += 1
        if walked > MAX_PDF_OBJECTS:
            raise _malformed("PDF")
        # A stream is a dictionary too: its keys are walked, its data is not decoded.
        if isinstance(node, DictionaryObject):
            for key, value in node.items():
                if key in ACTIVE_PDF_NAMES:
                    return str(key)
                # An action's kind is a value: << /S /JavaScript >>, << /Subtype /RichMedia >>.
                if isinstance(value, NameObject) and value in ACTIVE_PDF_NAMES:
                    return str(value)
                stack.append(value)
        elif isinstance(node, ArrayObject):
            stack.extend(node)
    return None


def check_png(data: bytes, *, max_pixels: int) -> tuple[int, int]:
    """The size of a PNG that ends where its IEND chunk does and decodes in full."""
    if not data.startswith(PNG_SIGNATURE):
        raise _malformed("PNG")
    offset = len(PNG_SIGNATURE)
    first = True
    while True:
        if offset + 12 > len(data):
            raise _malformed("PNG")  # cut off before IEND
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if end > len(data) or (first and kind != b"IHDR"):
            raise _malformed("PNG")
        crc = zlib.crc32(data[offset + 4 : end - 4])
        if crc != struct.unpack(">I", data[end - 4 : end])[0]:
            raise _malformed("PNG")
        first = False
        offset = end
        if kind == b"IEND":
            break
    if offset != len(data):
        raise _trailing("PNG")
    width, height = struct.unpack(">II", data[16:24])
    _check_pixels(width, height, max_pixels)
    _decode(PngImagePlugin.PngImageFile, data, "PNG")
    return width, height


def check_jpeg(data: bytes, *, max_pixels: int) -> tuple[int, int]:
    """The size of a JPEG that ends at its EOI marker and decodes in full."""
    size = _jpeg_walk(data)
    _check_pixels(*size, max_pixels)
    _decode(JpegImagePlugin.JpegImageFile, data, "JPEG")
    return size


def _jpeg_walk(data: bytes) -> tuple[int, int]:
    """Walks the markers from SOI to EOI (ITU T.81 B.1): the frame's size; refused when
    anything follows EOI or the structure breaks."""
    if not data.startswith(b"\xff\xd8"):
        raise _malformed("JPEG")
    size: tuple[int, int] | None = None
    i, n = 2, len(data)
    while True:
        if i + 2 > n or data[i] != 0xFF:
            raise _malformed("JPEG")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # EOI
            i += 2
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a segment
            i += 2
            continue
        if i + 4 > n:
            raise _malformed("JPEG")
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2 or i + 2 + length > n:
            raise _malformed("JPEG")
        # SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC): the frame header with the size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and length >= 7:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            size = (width, height)
        i += 2 + length
        if marker == 0xDA:  # SOS: entropy-coded data up to the next real marker
            while True:
                i = data.find(b"\xff", i)
                if i < 0 or i + 1 >= n:
                    raise _malformed("JPEG")
                following = data[i + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    i += 2  # a stuffed 0xFF or a restart marker: still scan data
                    continue
                break
    if i != n:
        raise _trailing("JPEG")
    if size is None:
        raise _malformed("JPEG")
    return size


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise _malformed("image")
    if width * height > max_pixels:
        raise ContentRefused(
            "too_many_pixels",
            f"The image has {width}x{height} pixels; at most {max_pixels} pixels are accepted.",
            f"图片为 {width}x{height} 像素, 最多接受 {max_pixels} 像素.",
        )


def _decode(plugin: type[ImageFile.ImageFile], data: bytes, kind: str) -> None:
    # The plugin class directly, not Image.open: one format only, and no Pillow bomb
    # warning (our own bound, above, was checked first from the header).
    try:
        with plugin(io.BytesIO(data)) as image:
            image.verify()  # checksums and structure, without decoding
        with plugin(io.BytesIO(data)) as image:
            image.load()  # every pixel: a truncated or corrupt stream fails here
    except Exception:  # an untrusted file may fail the decoder anywhere
        raise _malformed(kind) from None


def _malformed(kind: str) -> ContentRefused:
    return ContentRefused(
        "malformed",
        f"The file is not a readable {kind}: it is damaged or only looks like one.",
        f"文件不是可读取的 {kind}: 已损坏或仅表面上是该类型.",
    )


def _trailing(kind: str) -> ContentRefused:
    return ContentRefused(
        "trailing_data",
        f"The {kind} has other data after its end; upload the image alone.",
        f"{kind} 图片结束后还有其他数据, 请只上传图片本身.",
    )
