"""The project's canonical JSON: keys sorted, no spaces, UTF-8 as is.

What is hashed, signed or answered again byte for byte is written so (a timeline
entry's summary, an e-licence's signed body, a stored answer, a request's fingerprint,
an application's form), so that one value always gives one text.
"""

from __future__ import annotations

import json
from typing import Any

# One encoder for every call: `json.dumps` with options builds one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    """`value` as canonical JSON text."""
    return _ENCODER.encode(value)
