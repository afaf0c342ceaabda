"""行政区划 codes as a staff member's scope carries them (local tokens, the single sign-on
provider's claim, the staff directory): six digits (GB/T 2260) or a township's nine."""

import re

_DIVISION_CODE = re.compile(r"^(?:[0-9]{6}|[0-9]{9})$")


def is_division_code(value: str) -> bool:
    return _DIVISION_CODE.match(value) is not None
