"""Uploaded materials: which files are accepted, and how they are referenced.

Only the document types service centres accept (PDF, PNG, JPEG), recognised by their
first bytes and not only by the declared Content-Type, parsed in full as that type
(`upload_content`), and no larger than the limit. An application or supplement names an
upload as `upload:<upload_id>`.
"""

from __future__ import annotations

import uuid

from onceonly.intake.upload_content import ContentRefused, check_jpeg, check_pdf, check_png

UPLOAD_SCHEME = "upload:"
# Media type → the bytes every such file starts with.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


class UploadRefused(ValueError):
    """An upload that is not accepted; `status` is 413, 415 or 422."""

    def __init__(self, status: int, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.status = status
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh


def check_upload(declared_type: str, data: bytes, *, max_bytes: int, max_pixels: int) -> str:
    """The upload's media type when it is acceptable; raises UploadRefused. Parses the
    whole file: call it off the event loop."""
    media_type = declared_type.split(";", 1)[0].strip().lower()
    if media_type not in SIGNATURES:
        raise UploadRefused(
            415,
            "unsupported_type",
            f"Upload PDF, PNG or JPEG files ({', '.join(SIGNATURES)}), not {media_type!r}.",
            "仅接受 PDF, PNG 或 JPEG 文件.",
        )
    if len(data) > max_bytes:
        raise UploadRefused(
            413,
            "too_large",
            f"An uploaded material may have at most {max_bytes} bytes.",
            f"上传材料不得超过 {max_bytes} 字节.",
        )
    if not data:
        raise UploadRefused(422, "empty", "The file is empty.", "文件为空.")
    if not data.startswith(SIGNATURES[media_type]):
        raise UploadRefused(
            422,
            "content_mismatch",
            f"The content is not a {media_type} file.",
            f"文件内容与声明的类型 {media_type} 不符.",
        )
    try:
        if media_type == "application/pdf":
            check_pdf(data)
        elif media_type == "image/png":
            check_png(data, max_pixels=max_pixels)
        else:
            check_jpeg(data, max_pixels=max_pixels)
    except ContentRefused as exc:
        raise UploadRefused(422, exc.code, exc.message_en, exc.message_zh) from None
    return media_type


def upload_reference(upload_id: str) -> str:
    return f"{UPLOAD_SCHEME}{upload_id}"


def is_upload(reference: str) -> bool:
    return reference.startswith(UPLOAD_SCHEME)


def upload_id_of(reference: str) -> uuid.UUID | None:
    """The upload an `upload:` reference names; None when it is not well formed."""
    try:
        return uuid.UUID(reference.removeprefix(UPLOAD_SCHEME))
    except ValueError:
        return None
