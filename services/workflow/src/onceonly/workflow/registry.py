"""The base registry (基础库) that shared-data checks ask: who a person is, whether a
company is active, what property, social insurance, credit and e-licences they have.

`BaseRegistry` is the seam for the provincial data platform. `PostgresBaseRegistry`
reads the local stand-in (schema `registry`, migration 002); `InMemoryBaseRegistry`
holds the same facts in dictionaries, for tests and demos, and is kept honest by one
contract suite run against both.

Identifiers are never stored: every row is keyed by `lookup_key(hmac_key, identifier)`,
an HMAC-SHA256 under a key that the adapter is given. A plain hash would not do, since
a resident ID number (region, birth date, three digits, check) is enumerable.

This module does not import asyncpg at run time, so that the records and the Protocol
can be imported by pure code (checks, workflow sandbox) without the driver.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    import asyncpg

MIN_KEY_BYTES = 16


class MaritalStatus(StrEnum):
    MARRIED = "married"
    UNMARRIED = "unmarried"
    DIVORCED = "divorced"
    WIDOWED = "widowed"
    UNKNOWN = "unknown"  # the registry has no record of it


class OrganisationStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # 吊销


class ELicenceStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"


# Names and birth dates are personal data: kept out of reprs, so that a record that
# finds its way into a log line or an exception does not carry them along.
@dataclass(frozen=True, slots=True)
class PersonRecord:
    name: str = field(repr=False)
    birth_date: date = field(repr=False)
    household_district: str  # GB/T 2260 code of the district of household registration
    marital_status: MaritalStatus
    alive: bool


@dataclass(frozen=True, slots=True)
class OrganisationRecord:
    name: str
    status: OrganisationStatus
    # Resolved by the registry; None when the representative is not a registered resident.
    legal_representative: PersonRecord | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class PropertyRecord:
    certificate_number: str
    district_code: str
    district_name: str  # e.g. 杭州市西湖区
    usage: str  # residential, commercial, industrial, land
    area_m2: float


@dataclass(frozen=True, slots=True)
class SocialInsuranceRecord:
    employer: str
    months_continuous: int


@dataclass(frozen=True, slots=True)
class CreditRecord:
    blacklisted: bool  # on the list of dishonest judgment debtors (失信被执行人)
    overdue_loans: int


@dataclass(frozen=True, slots=True)
class ELicenceRecord:
    number: str
    licence_type: str
    name_zh: str
    issued_on: date
    valid_until: date | None  # None: valid indefinitely (长期)
    status: ELicenceStatus


class BaseRegistry(Protocol):
    """Facts about an applicant, looked up by resident ID number or credit code.

    The seam for the provincial data platform. Identifiers are accepted as typed by
    the applicant (surrounding spaces, lower-case `x`) and normalised by the adapter.
    "No record" is an answer (None or an empty list), never an exception; an exception
    means the registry could not be asked, and the caller should retry.
    """

    async def person(self, id_number: str) -> PersonRecord | None: ...

    async def organisation(self, uscc: str) -> OrganisationRecord | None: ...

    async def real_estate(self, owner_identifier: str) -> list[PropertyRecord]: ...

    async def social_insurance(self, identifier: str) -> SocialInsuranceRecord | None: ...

    async def credit(self, identifier: str) -> CreditRecord | None: ...

    async def elicences(self, holder: str) -> list[ELicenceRecord]: ...

    def record_key(self, identifier: str) -> str:
        """The registry's opaque key of this applicant's records, quoted as the record
        reference of a check (provenance): not reversible without the registry's key."""
        ...


def normalise_identifier(identifier: str) -> str:
    """Resident ID numbers and credit codes are upper-case without spaces."""
    return identifier.strip().upper()


def lookup_key(hmac_key: bytes, identifier: str) -> str:
    """The key a registry row is stored under: HMAC-SHA256 hex of the identifier."""
    if len(hmac_key) < MIN_KEY_BYTES:
        raise ValueError(f"the registry lookup key needs at least {MIN_KEY_BYTES} bytes")
    message = normalise_identifier(identifier).encode()
    return hmac.new(hmac_key, message, hashlib.sha256).hexdigest()


# Hex characters of the lookup key quoted as a record reference: enough to find the
# record, too few to serve as the lookup key itself.
RECORD_KEY_CHARS = 16


def record_key(hmac_key: bytes, identifier: str) -> str:
    """The record reference of an applicant's rows: a prefix of their lookup key."""
    return lookup_key(hmac_key, identifier)[:RECORD_KEY_CHARS]


# --- seed data -------------------------------------------------------------------


class SeedError(ValueError):
    """A seed file that does not describe a consistent registry."""


class _Seed(BaseModel):
    # Errors name the entry's position, not its value: seed identifiers are ID numbers.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


# Upper case, as `normalise_identifier` leaves it; check characters are verified by tests.
_IDENTIFIER = r"^[0-9A-Z]{18}$"
_DISTRICT = r"^[0-9]{6}$"


class SeedPerson(_Seed):
    id_number: str = Field(pattern=_IDENTIFIER)
    name: str = Field(min_length=1)
    household_district: str = Field(pattern=_DISTRICT)
    marital_status: MaritalStatus
    alive: bool = True

    @property
    def birth_date(self) -> date:
        """Digits 7 to 14 of a resident ID number are the date of birth."""
        return date(
            int(self.id_number[6:10]), int(self.id_number[10:12]), int(self.id_number[12:14])
        )

    @model_validator(mode="after")
    def _birth_date_is_a_date(self) -> SeedPerson:
        try:
            self.birth_date  # noqa: B018 - evaluated for the error only
        except ValueError:
            raise ValueError("digits 7 to 14 of id_number are not a date") from None
        return self


class SeedOrganisation(_Seed):
    uscc: str = Field(pattern=_IDENTIFIER)
    name: str = Field(min_length=1)
    status: OrganisationStatus
    legal_representative: str = Field(pattern=_IDENTIFIER)


class SeedProperty(_Seed):
    certificate_number: str = Field(min_length=1)
    owners: tuple[str, ...] = Field(min_length=1)
    district_code: str = Field(pattern=_DISTRICT)
    district_name: str = Field(min_length=1)
    usage: str = Field(min_length=1)
    area_m2: float = Field(gt=0)


class SeedSocialInsurance(_Seed):
    identifier: str = Field(pattern=_IDENTIFIER)
    employer: str = Field(min_length=1)
    months_continuous: int = Field(ge=0)


class SeedCredit(_Seed):
    identifier: str = Field(pattern=_IDENTIFIER)
    blacklisted: bool = False
    overdue_loans: int = Field(default=0, ge=0)


class SeedELicence(_Seed):
    number: str = Field(min_length=1)
    holder: str = Field(pattern=_IDENTIFIER)
    licence_type: str = Field(min_length=1)
    name_zh: str = Field(min_length=1)
    issued_on: date
    valid_until: date | None = None
    status: ELicenceStatus = ELicenceStatus.VALID


class RegistrySeed(_Seed):
    """The content of a seed file: fictitious records for the local registry."""

    people: tuple[SeedPerson, ...] = ()
    organisations: tuple[SeedOrganisation, ...] = ()
    properties: tuple[SeedProperty, ...] = ()
    social_insurance: tuple[SeedSocialInsurance, ...] = ()
    credit: tuple[SeedCredit, ...] = ()
    elicences: tuple[SeedELicence, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> RegistrySeed:
        def once(kind: str, keys: Iterable[object]) -> None:
            seen: set[object] = set()
            for key in keys:
                if key in seen:
                    # Position, not value: seed identifiers are still ID numbers.
                    raise ValueError(f"{kind}: an entry appears twice (entry {len(seen) + 1})")
                seen.add(key)

        once("people", (p.id_number for p in self.people))
        once("organisations", (o.uscc for o in self.organisations))
        once("social_insurance", (s.identifier for s in self.social_insurance))
        once("credit", (c.identifier for c in self.credit))
        once("elicences", ((e.holder, e.number) for e in self.elicences))
        once("properties", (p.certificate_number for p in self.properties))
        return self

    def person(self, name: str) -> SeedPerson:
        """The seeded person of that name (test and demo data have unique names)."""
        return next(p for p in self.people if p.name == name)

    def organisation(self, name: str) -> SeedOrganisation:
        return next(o for o in self.organisations if o.name == name)


def parse_seed(text: str, *, origin: str = "<seed>") -> RegistrySeed:
    try:
        document: Any = yaml.safe_load(text)
        return RegistrySeed.model_validate(document or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise SeedError(f"{origin}: {exc}") from exc


def load_seed(path: Path | None = None) -> RegistrySeed:
    """The seed file at `path`, or the one shipped with the package (seed/registry.yaml)."""
    if path is not None:
        return parse_seed(path.read_text(encoding="utf-8"), origin=str(path))
    shipped = resources.files("onceonly.workflow").joinpath("seed", "registry.yaml")
    return parse_seed(shipped.read_text(encoding="utf-8"), origin="seed/registry.yaml")


# --- adapters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeedCounts:
    people: int
    organisations: int
    properties: int  # rows: one per certificate and owner
    social_insurance: int
    credit: int
    elicences: int


class InMemoryBaseRegistry:
    """The base registry in dictionaries, keyed like the Postgres one."""

    def __init__(self, *, hmac_key: bytes) -> None:
        lookup_key(hmac_key, "")  # refuses a short key now rather than at the first lookup
        self._hmac_key = hmac_key
        self._people: dict[str, PersonRecord] = {}
        self._organisations: dict[str, tuple[str, OrganisationStatus, str]] = {}
        self._properties: dict[str, dict[str, PropertyRecord]] = {}
        self._social_insurance: dict[str, SocialInsuranceRecord] = {}
        self._credit: dict[str, CreditRecord] = {}
        self._elicences: dict[str, dict[str, ELicenceRecord]] = {}

    @classmethod
    def from_seed(cls, seed: RegistrySeed, *, hmac_key: bytes) -> InMemoryBaseRegistry:
        registry = cls(hmac_key=hmac_key)
        registry.load(seed)
        return registry

    def load(self, seed: RegistrySeed) -> SeedCounts:
        """Add or replace the seed's records, as `seed_registry` does in Postgres."""
        key = self._key
        for p in seed.people:
            self._people[key(p.id_number)] = _person_record(p)
        for o in seed.organisations:
            rep = key(o.legal_representative)
            self._organisations[key(o.uscc)] = (o.name, o.status, rep)
        for prop in seed.properties:
            for owner in prop.owners:
                self._properties.setdefault(key(owner), {})[prop.certificate_number] = (
                    _property_record(prop)
                )
        for s in seed.social_insurance:
            self._social_insurance[key(s.identifier)] = SocialInsuranceRecord(
                employer=s.employer, months_continuous=s.months_continuous
            )
        for c in seed.credit:
            self._credit[key(c.identifier)] = CreditRecord(
                blacklisted=c.blacklisted, overdue_loans=c.overdue_loans
            )
        for e in seed.elicences:
            self._elicences.setdefault(key(e.holder), {})[e.number] = _elicence_record(e)
        return _counts(seed)

    def _key(self, identifier: str) -> str:
        return lookup_key(self._hmac_key, identifier)

    def record_key(self, identifier: str) -> str:
        return record_key(self._hmac_key, identifier)

    async def person(self, id_number: str) -> PersonRecord | None:
        return self._people.get(self._key(id_number))

    async def organisation(self, uscc: str) -> OrganisationRecord | None:
        found = self._organisations.get(self._key(uscc))
        if found is None:
            return None
        name, status, rep = found
        return OrganisationRecord(name, status, self._people.get(rep))

    async def real_estate(self, owner_identifier: str) -> list[PropertyRecord]:
        owned = self._properties.get(self._key(owner_identifier), {})
        return [owned[number] for number in sorted(owned)]

    async def social_insurance(self, identifier: str) -> SocialInsuranceRecord | None:
        return self._social_insurance.get(self._key(identifier))

    async def credit(self, identifier: str) -> CreditRecord | None:
        return self._credit.get(self._key(identifier))

    async def elicences(self, holder: str) -> list[ELicenceRecord]:
        held = self._elicences.get(self._key(holder), {})
        return [held[number] for number in sorted(held)]


class PostgresBaseRegistry:
    """The base registry over schema `registry` (parameterised SQL only).

    `db` is a pool, or a connection (e.g. one inside a test's rolled-back transaction).
    """

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection, *, hmac_key: bytes) -> None:
        lookup_key(hmac_key, "")  # refuses a short key now rather than at the first lookup
        self._db = db
        self._hmac_key = hmac_key

    def _key(self, identifier: str) -> str:
        return lookup_key(self._hmac_key, identifier)

    def record_key(self, identifier: str) -> str:
        return record_key(self._hmac_key, identifier)

    async def person(self, id_number: str) -> PersonRecord | None:
        row = await self._db.fetchrow(
            "SELECT name, birth_date, household_district, marital_status, alive"
            " FROM registry.people WHERE lookup_key = $1",
            self._key(id_number),
        )
        return None if row is None else _person_from_row(row)

    async def organisation(self, uscc: str) -> OrganisationRecord | None:
        row = await self._db.fetchrow(
            "SELECT o.name AS organisation_name, o.status, p.lookup_key AS rep_key,"
            "       p.name, p.birth_date, p.household_district, p.marital_status, p.alive"
            " FROM registry.organisations o"
            " LEFT JOIN registry.people p ON p.lookup_key = o.legal_representative_key"
            " WHERE o.lookup_key = $1",
            self._key(uscc),
        )
        if row is None:
            return None
        rep = None if row["rep_key"] is None else _person_from_row(row)
        return OrganisationRecord(row["organisation_name"], OrganisationStatus(row["status"]), rep)

    async def real_estate(self, owner_identifier: str) -> list[PropertyRecord]:
        # COLLATE "C": code point order, the order the in-memory registry sorts in.
        rows = await self._db.fetch(
            "SELECT certificate_number, district_code, district_name, usage, area_m2"
            " FROM registry.properties WHERE owner_key = $1"
            ' ORDER BY certificate_number COLLATE "C"',
            self._key(owner_identifier),
        )
        return [
            PropertyRecord(
                certificate_number=row["certificate_number"],
                district_code=row["district_code"],
                district_name=row["district_name"],
                usage=row["usage"],
                area_m2=float(row["area_m2"]),
            )
            for row in rows
        ]

    async def social_insurance(self, identifier: str) -> SocialInsuranceRecord | None:
        row = await self._db.fetchrow(
            "SELECT employer, months_continuous FROM registry.social_insurance"
            " WHERE lookup_key = $1",
            self._key(identifier),
        )
        return None if row is None else SocialInsuranceRecord(row[0], row[1])

    async def credit(self, identifier: str) -> CreditRecord | None:
        row = await self._db.fetchrow(
            "SELECT blacklisted, overdue_loans FROM registry.credit WHERE lookup_key = $1",
            self._key(identifier),
        )
        return None if row is None else CreditRecord(row[0], row[1])

    async def elicences(self, holder: str) -> list[ELicenceRecord]:
        rows = await self._db.fetch(
            "SELECT number, licence_type, name_zh, issued_on, valid_until, status"
            ' FROM registry.elicences WHERE holder_key = $1 ORDER BY number COLLATE "C"',
            self._key(holder),
        )
        return [
            ELicenceRecord(
                number=row["number"],
                licence_type=row["licence_type"],
                name_zh=row["name_zh"],
                issued_on=row["issued_on"],
                valid_until=row["valid_until"],
                status=ELicenceStatus(row["status"]),
            )
            for row in rows
        ]


async def seed_registry(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    hmac_key: bytes,
    seed: RegistrySeed | None = None,
) -> SeedCounts:
    """Upsert the seed (default: the shipped seed/registry.yaml) in one transaction.

    Idempotent: running it again changes nothing but `updated_at`. Records that the
    seed no longer mentions are left in place.
    """
    # Imported here so that importing this module does not need the driver.
    import asyncpg

    seed = seed if seed is not None else load_seed()
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            await _upsert(conn, seed, hmac_key)
    else:
        async with db.transaction():  # a savepoint when the caller is in a transaction
            await _upsert(db, seed, hmac_key)
    return _counts(seed)


async def _upsert(conn: asyncpg.Connection, seed: RegistrySeed, hmac_key: bytes) -> None:
    def key(identifier: str) -> str:
        return lookup_key(hmac_key, identifier)

    await conn.executemany(
        "INSERT INTO registry.people"
        " (lookup_key, name, birth_date, household_district, marital_status, alive)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (lookup_key) DO UPDATE SET name = EXCLUDED.name,"
        "   birth_date = EXCLUDED.birth_date, household_district = EXCLUDED.household_district,"
        "   marital_status = EXCLUDED.marital_status, alive = EXCLUDED.alive, updated_at = now()",
        [
            (
                key(p.id_number),
                p.name,
                p.birth_date,
                p.household_district,
                str(p.marital_status),
                p.alive,
            )
            for p in seed.people
        ],
    )
    await conn.executemany(
        "INSERT INTO registry.organisations (lookup_key, name, status, legal_representative_key)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (lookup_key) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status,"
        "   legal_representative_key = EXCLUDED.legal_representative_key, updated_at = now()",
        [
            (key(o.uscc), o.name, str(o.status), key(o.legal_representative))
            for o in seed.organisations
        ],
    )
    await conn.executemany(
        "INSERT INTO registry.properties"
        " (owner_key, certificate_number, district_code, district_name, usage, area_m2)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (owner_key, certificate_number) DO UPDATE SET"
        "   district_code = EXCLUDED.district_code, district_name = EXCLUDED.district_name,"
        "   usage = EXCLUDED.usage, area_m2 = EXCLUDED.area_m2, updated_at = now()",
        [
            (
                key(owner),
                p.certificate_number,
                p.district_code,
                p.district_name,
                p.usage,
                p.area_m2,
            )
            for p in seed.properties
            for owner in p.owners
        ],
    )
    await conn.executemany(
        "INSERT INTO registry.social_insurance (lookup_key, employer, months_continuous)"
        " VALUES ($1, $2, $3)"
        " ON CONFLICT (lookup_key) DO UPDATE SET employer = EXCLUDED.employer,"
        "   months_continuous = EXCLUDED.months_continuous, updated_at = now()",
        [(key(s.identifier), s.employer, s.months_continuous) for s in seed.social_insurance],
    )
    await conn.executemany(
        "INSERT INTO registry.credit (lookup_key, blacklisted, overdue_loans)"
        " VALUES ($1, $2, $3)"
        " ON CONFLICT (lookup_key) DO UPDATE SET blacklisted = EXCLUDED.blacklisted,"
        "   overdue_loans = EXCLUDED.overdue_loans, updated_at = now()",
        [(key(c.identifier), c.blacklisted, c.overdue_loans) for c in seed.credit],
    )
    await conn.executemany(
        "INSERT INTO registry.elicences"
        " (holder_key, number, licence_type, name_zh, issued_on, valid_until, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (holder_key, number) DO UPDATE SET licence_type = EXCLUDED.licence_type,"
        "   name_zh = EXCLUDED.name_zh, issued_on = EXCLUDED.issued_on,"
        "   valid_until = EXCLUDED.valid_until, status = EXCLUDED.status, updated_at = now()",
        [
            (
                key(e.holder),
                e.number,
                e.licence_type,
                e.name_zh,
                e.issued_on,
                e.valid_until,
                str(e.status),
            )
            for e in seed.elicences
        ],
    )


def _counts(seed: RegistrySeed) -> SeedCounts:
    return SeedCounts(
        people=len(seed.people),
        organisations=len(seed.organisations),
        properties=sum(len(p.owners) for p in seed.properties),
        social_insurance=len(seed.social_insurance),
        credit=len(seed.credit),
        elicences=len(seed.elicences),
    )


def _person_record(p: SeedPerson) -> PersonRecord:
    return PersonRecord(
        name=p.name,
        birth_date=p.birth_date,
        household_district=p.household_district,
        marital_status=p.marital_status,
        alive=p.alive,
    )


def _person_from_row(row: Any) -> PersonRecord:
    return PersonRecord(
        name=row["name"],
        birth_date=row["birth_date"],
        household_district=row["household_district"],
        marital_status=MaritalStatus(row["marital_status"]),
        alive=row["alive"],
    )


def _property_record(p: SeedProperty) -> PropertyRecord:
    return PropertyRecord(
        certificate_number=p.certificate_number,
        district_code=p.district_code,
        district_name=p.district_name,
        usage=p.usage,
        area_m2=p.area_m2,
    )


def _elicence_record(e: SeedELicence) -> ELicenceRecord:
    return ELicenceRecord(
        number=e.number,
        licence_type=e.licence_type,
        name_zh=e.name_zh,
        issued_on=e.issued_on,
        valid_until=e.valid_until,
        status=e.status,
    )
