"""The staff directory: staff who sign in to the operations console with a password
(where no single sign-on provider is configured), and the sign-in itself.

Passwords are kept as scrypt hashes (RFC 7914, N=2^14, r=8, p=1, a 16-byte salt each).
Five wrong passwords in a row lock the account for 15 minutes; an unknown staff id
costs the same hashing as a known one and gets the same answer, so the answer does not
tell which staff ids exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from onceonly.platform.auth import ROLES
from onceonly.platform.divisions import is_division_code

MAX_FAILURES = 5
LOCKED_FOR = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
STAFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_N, _R, _P = 2**14, 8, 1
# Hashed when the staff id is unknown, so that the answer takes as long.
_DECOY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    encode = lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")  # noqa: E731
    return f"scrypt${_N}${_R}${_P}${encode(salt)}${encode(digest)}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        decode = lambda text: base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))  # noqa: E731
        if scheme != "scrypt":
            return False
        found = hashlib.scrypt(
            password.encode(), salt=decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
        return hmac.compare_digest(found, decode(digest))
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    display_name: str
    department_code: str
    roles: tuple[str, ...]
    region: str = ""  # the division worked for; "" the whole province


class StaffDirectory:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def put(
        self,
        *,
        staff_id: str,
        display_name: str,
        department_code: str,
        roles: tuple[str, ...],
        password: str,
        region: str = "",
    ) -> None:
        """Add a staff member or replace one (a new password unlocks the account)."""
        if not STAFF_ID.match(staff_id):
            raise ValueError("staff id: letters, digits, '.', '_', '@' or '-', at most 64")
        if not roles or set(roles) - set(ROLES):
            raise ValueError(f"roles: one or more of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
        if region and not is_division_code(region):
            raise ValueError("region: a division code (6 or 9 digits), or none")
        await self._pool.execute(
            """
            INSERT INTO platform.staff_directory
                (staff_id, display_name, department_code, roles, password_hash, region)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (staff_id) DO UPDATE SET
                display_name = EXCLUDED.display_name,
                department_code = EXCLUDED.department_code,
                region = EXCLUDED.region,
                roles = EXCLUDED.roles,
                password_hash = EXCLUDED.password_hash,
                failed_attempts = 0, locked_until = NULL, disabled = false,
                updated_at = now()
            """,
            staff_id,
            display_name,
            department_code,
            list(roles),
            hash_password(password),
            region,
        )

    async def sign_in(self, staff_id: str, password: str) -> StaffMember | None:
        """The staff member if the password is theirs and the account is open; None
        otherwise (unknown, wrong password, locked or disabled: one answer)."""
        row = None
        if STAFF_ID.match(staff_id):
            row = await self._pool.fetchrow(
                "SELECT staff_id, display_name, department_code, roles, region, password_hash,"
                " disabled, coalesce(locked_until > now(), false) AS locked"
                " FROM platform.staff_directory WHERE staff_id = $1",
                staff_id,
            )
        matches = password_matches(password, row["password_hash"] if row else _DECOY)
        if row is None or row["disabled"] or row["locked"]:
            return None
        if not matches:
            await self._pool.execute(
                """
                UPDATE platform.staff_directory
                   SET failed_attempts = failed_attempts + 1,
                       locked_until = CASE WHEN failed_attempts + 1 >= $2
                                           THEN now() + $3::interval END
                 WHERE staff_id = $1
                """,
                staff_id,
                MAX_FAILURES,
                LOCKED_FOR,
            )
            return None
        await self._pool.execute(
            "UPDATE platform.staff_directory SET failed_attempts = 0, locked_until = NULL"
            " WHERE staff_id = $1 AND failed_attempts > 0",
            staff_id,
        )
        return StaffMember(
            staff_id=row["staff_id"],
            display_name=row["display_name"],
            department_code=row["department_code"],
            roles=tuple(row["roles"]),
            region=row["region"],
        )
