"""An e-licence's QR code: the PNG decodes (zxing-cpp) to the verification URL whose token
verifies offline; the SVG is well-formed; without a URL the code carries the bare token."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime, timedelta

import zxingcpp

from onceonly.platform.elicence_signatures import SigningKeys, token_of, verify
from onceonly.platform.secrets import DEVELOPMENT_ELICENCE_SIGNING_KEYS
from onceonly.workflow.elicence_qr import qr_payload, qr_png, qr_svg

KEYS = SigningKeys.parse(DEVELOPMENT_ELICENCE_SIGNING_KEYS, setting="test")
URL = "https://zwfw.example.gov.cn/v1/elicences/verification"
NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def token() -> str:
    return KEYS.sign(
        KEYS.payload_for(
            number="EL-330100-20261204-0004276",
            licence_type="food-business-licence",
            holder_masked="9133**************",
            issuer_region="330100",
            issued_at=NOW,
            valid_until=NOW + timedelta(days=5 * 365),
        )
    )


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def grayscale(png: bytes) -> memoryview:
    """The pixels of a 1-bit grayscale PNG (segno's), one byte each, for zxing-cpp."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    position, idat = 8, b""
    width = height = depth = 0
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        data = png[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", data[:10])
            assert (depth, colour) == (1, 0)
        elif kind == b"IDAT":
            idat += data
    raw = zlib.decompress(idat)
    stride = (width * depth + 7) // 8
    previous, pixels = bytearray(stride), bytearray()
    for y in range(height):
        kind, row = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a, b, c = (row[i - 1] if i else 0), previous[i], (previous[i - 1] if i else 0)
            predicted = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            row[i] = (row[i] + predicted) & 0xFF
        previous = row
        pixels.extend(255 if row[x // 8] >> (7 - x % 8) & 1 else 0 for x in range(width))
    return memoryview(bytes(pixels)).cast("B", (height, width))


def test_the_png_decodes_to_a_url_whose_token_verifies() -> None:
    signed = token()
    payload = qr_payload(signed, verification_url=URL)
    assert payload == f"{URL}?t={signed}"
    found = zxingcpp.read_barcodes(grayscale(qr_png(payload)))
    assert [code.text for code in found] == [payload]
    answer = verify(token_of(found[0].text), KEYS.published(), now=NOW)
    assert answer.outcome == "genuine"


def test_the_svg_is_well_formed() -> None:
    svg = ET.fromstring(qr_svg(qr_payload(token(), verification_url=URL)))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(svg.attrib["width"]) == int(svg.attrib["height"]) > 100
    assert svg.find("{http://www.w3.org/2000/svg}path") is not None


def test_without_a_url_the_code_carries_the_bare_token() -> None:
    signed = token()
    assert qr_payload(signed) == signed
    found = zxingcpp.read_barcodes(grayscale(qr_png(signed)))
    assert [code.text for code in found] == [signed]
    assert qr_payload(signed, verification_url=URL + "?lang=zh") == f"{URL}?lang=zh&t={signed}"
