"""The QR code of a signed e-licence: its token, behind the verification URL when one is
configured, so that a phone's camera opens the public verification page and an offline
verifier reads the same token out of the URL (`token_of`)."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import segno


def qr_payload(token: str, *, verification_url: str = "") -> str:
    """What the QR code carries: `<url>?t=<token>`, or the bare token without a URL."""
    if not verification_url:
        return token
    separator = "&" if "?" in verification_url else "?"
    return f"{verification_url}{separator}{urlencode({'t': token})}"


def _code(payload: str) -> segno.QRCode:
    # Level M (15 % recoverable): printed licences get scuffed; the token is ASCII, so the
    # code stays a byte-mode QR of version ~15 for a ~400-character payload.
    return segno.make_qr(payload, error="m", boost_error=False)


def qr_png(payload: str, *, scale: int = 4) -> bytes:
    buffer = io.BytesIO()
    _code(payload).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg(payload: str, *, scale: int = 4) -> str:
    buffer = io.BytesIO()
    _code(payload).save(buffer, kind="svg", scale=scale, border=4, xmldecl=False)
    return buffer.getvalue().decode()


def qr_matrix(payload: str) -> list[list[bool]]:
    """The modules (dark: True), without the quiet zone; for tests and decoders."""
    return [[bool(cell) for cell in row] for row in _code(payload).matrix]
