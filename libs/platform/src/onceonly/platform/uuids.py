"""Random (version 4) UUIDs as text, the form request ids and event ids travel in."""

from __future__ import annotations

import os


def random_uuid_text() -> str:
    """`str(uuid.uuid4())`, made without a `uuid.UUID` (whose pure-Python constructor
    was most of the cost: every request and event takes one)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
