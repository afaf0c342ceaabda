"""The base registry against the real test database.

One contract suite, run against both `PostgresBaseRegistry` and `InMemoryBaseRegistry`
loaded with the same seed, keeps the in-memory one (used by unit tests) honest; the
expected check outcomes of the catalogue's matters run against both as well. Each
Postgres case seeds inside a transaction that is rolled back, under a fresh key.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from onceonly.catalogue import default_catalogue
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.testing import rolled_back
from onceonly.workflow.checks import all_passed, run_checks
from onceonly.workflow.registry import (
    BaseRegistry,
    CreditRecord,
    ELicenceStatus,
    InMemoryBaseRegistry,
    MaritalStatus,
    OrganisationStatus,
    PostgresBaseRegistry,
    SeedCounts,
    SocialInsuranceRecord,
    load_seed,
    lookup_key,
    seed_registry,
)

pytestmark = pytest.mark.integration

SEED = load_seed()
TODAY = date(2026, 11, 23)
TABLES = ("people", "organisations", "properties", "social_insurance", "credit", "elicences")


@pytest_asyncio.fixture(scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    dsn = os.environ.get(
        "ONCEONLY_TEST_DATABASE_URL",
        "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly_test",
    )
    created = await create_pool(dsn, max_size=4)
    await prepare_database(created, component="workflow", package="onceonly.workflow")
    yield created
    await created.close()


@pytest_asyncio.fixture
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with rolled_back(pool) as conn:
        yield conn


@pytest.fixture
def hmac_key() -> bytes:
    return secrets.token_bytes(32)


@pytest_asyncio.fixture(params=["postgres", "in-memory"])
async def registry(
    request: pytest.FixtureRequest, connection: asyncpg.Connection, hmac_key: bytes
) -> BaseRegistry:
    if request.param == "postgres":
        await seed_registry(connection, hmac_key=hmac_key, seed=SEED)
        return PostgresBaseRegistry(connection, hmac_key=hmac_key)
    return InMemoryBaseRegistry.from_seed(SEED, hmac_key=hmac_key)


def person_id(name: str) -> str:
    return SEED.person(name).id_number


def uscc(name: str) -> str:
    return SEED.organisation(name).uscc


# --- the contract ------------------------------------------------------------------


async def test_a_person_is_answered_as_seeded(registry: BaseRegistry) -> None:
    found = await registry.person(person_id("张伟"))

    assert found is not None
    assert (found.name, found.birth_date) == ("张伟", date(1987, 3, 15))
    assert found.household_district == "330106"
    assert found.marital_status is MaritalStatus.MARRIED
    assert found.alive is True
    deceased = await registry.person(person_id("黄勇"))
    assert deceased is not None and deceased.alive is False


async def test_an_identifier_is_found_as_typed(registry: BaseRegistry) -> None:
    typed = f"  {person_id('吴霞').lower()} "  # ends in x

    found = await registry.person(typed)

    assert found is not None and found.name == "吴霞"


async def test_the_record_key_names_the_applicants_rows_without_the_identifier(
    registry: BaseRegistry, hmac_key: bytes
) -> None:
    id_number = person_id("吴霞")
    key = registry.record_key(f" {id_number.lower()} ")

    assert key == registry.record_key(id_number) == lookup_key(hmac_key, id_number)[:16]
    assert key != registry.record_key(person_id("张伟"))
    assert id_number not in key


async def test_no_record_is_an_answer_not_an_error(registry: BaseRegistry) -> None:
    unknown_person = "110105194912310029"  # valid check digit, never seeded
    unknown_company = "91110000100000000Q"

    assert await registry.person(unknown_person) is None
    assert await registry.organisation(unknown_company) is None
    assert await registry.real_estate(unknown_person) == []
    assert await registry.social_insurance(unknown_person) is None
    assert await registry.credit(unknown_person) is None
    assert await registry.elicences(unknown_person) == []
    # Each kind of record is looked up under its own identifier only.
    assert await registry.person(uscc("杭州云栖数字科技有限公司")) is None
    assert await registry.organisation(person_id("张伟")) is None


async def test_an_organisation_comes_with_its_legal_representative(registry: BaseRegistry) -> None:
    active = await registry.organisation(uscc("杭州云栖数字科技有限公司"))
    revoked = await registry.organisation(uscc("杭州拱宸餐饮管理有限公司"))
    unregistered_rep = await registry.organisation(uscc("杭州湖墅贸易有限公司"))

    assert active is not None and active.status is OrganisationStatus.ACTIVE
    assert active.name == "杭州云栖数字科技有限公司"
    assert active.legal_representative == await registry.person(person_id("张伟"))
    assert revoked is not None and revoked.status is OrganisationStatus.REVOKED
    assert unregistered_rep is not None and unregistered_rep.legal_representative is None


async def test_property_is_listed_per_owner_in_certificate_order(registry: BaseRegistry) -> None:
    husband = await registry.real_estate(person_id("张伟"))
    wife = await registry.real_estate(person_id("王芳"))
    two_homes = await registry.real_estate(person_id("马超"))

    assert husband == wife  # co-owned
    assert [(p.district_code, p.district_name, p.usage, p.area_m2) for p in husband] == [
        ("330106", "杭州市西湖区", "residential", 89.56)
    ]
    assert [p.certificate_number for p in two_homes] == [
        "浙(2017)杭州市不动产权第0120456号",
        "浙(2024)杭州市不动产权第0601338号",
    ]
    assert await registry.real_estate(person_id("刘洋")) == []
    land = await registry.real_estate(uscc("杭州西溪建设工程有限公司"))
    assert [p.usage for p in land] == ["land"]


async def test_social_insurance_and_credit_are_answered_as_seeded(registry: BaseRegistry) -> None:
    assert await registry.social_insurance(person_id("陈静")) == SocialInsuranceRecord(
        "杭州拱宸餐饮管理有限公司", 3
    )
    assert await registry.social_insurance(person_id("周杰")) is None
    assert await registry.credit(person_id("郭强")) == CreditRecord(True, 0)
    assert await registry.credit(person_id("赵敏")) == CreditRecord(False, 1)
    assert await registry.credit(person_id("何琳")) is None


async def test_elicences_are_listed_per_holder_in_number_order(registry: BaseRegistry) -> None:
    held = await registry.elicences(uscc("杭州西溪建设工程有限公司"))
    revoked = await registry.elicences(uscc("杭州拱宸餐饮管理有限公司"))

    assert [(e.number, e.licence_type, e.valid_until) for e in held] == [
        ("330106000201905080213", "business-licence", None),
        ("D233061550", "construction-qualification", date(2026, 2, 28)),
        ("D233061551", "construction-qualification", date(2031, 2, 19)),
    ]
    assert held[0].issued_on == date(2019, 5, 8)
    assert [e.status for e in revoked] == [ELicenceStatus.REVOKED]


async def test_another_key_opens_nothing(
    registry: BaseRegistry, connection: asyncpg.Connection, hmac_key: bytes
) -> None:
    other = bytes(b ^ 0xFF for b in hmac_key)
    if isinstance(registry, PostgresBaseRegistry):
        stranger: BaseRegistry = PostgresBaseRegistry(connection, hmac_key=other)
    else:
        stranger = InMemoryBaseRegistry(hmac_key=other)

    assert await registry.person(person_id("张伟")) is not None
    assert await stranger.person(person_id("张伟")) is None
    assert await stranger.real_estate(person_id("张伟")) == []


# --- the checks of the catalogue's matters, on the seeded registry ------------------


def matter_checks(code: str) -> list[str]:
    matter = default_catalogue().matter(code)
    assert matter is not None
    return list(matter.shared_data_checks)


HOUSING_FUND_LOAN = matter_checks("housing-fund-loan")


@pytest.mark.parametrize(
    ("name", "failed"),
    [
        ("张伟", []),
        ("王芳", []),
        ("李娜", []),
        ("马超", []),
        ("钱进", []),
        ("林涛", []),
        ("杨磊", []),
        ("刘洋", ["real-estate"]),
        ("陈静", ["social-insurance"]),
        ("郭强", ["credit"]),  # blacklisted
        ("赵敏", ["credit"]),  # an overdue loan
        ("何琳", ["credit"]),  # no credit record
        ("黄勇", ["population"]),  # deceased
        ("孙丽", ["marriage"]),  # marital status not recorded
        ("周杰", ["real-estate", "social-insurance"]),
        ("高峰", ["credit"]),
    ],
)
async def test_housing_fund_loan_checks(
    registry: BaseRegistry, name: str, failed: list[str]
) -> None:
    assert HOUSING_FUND_LOAN == [
        "population",
        "marriage",
        "real-estate",
        "social-insurance",
        "credit",
    ]

    results = await run_checks(
        registry, "person", person_id(name), HOUSING_FUND_LOAN, {}, today=TODAY
    )

    assert [r.check for r in results] == HOUSING_FUND_LOAN
    assert [r.check for r in results if not r.passed] == failed
    # Auto-approval (秒批) exactly when every check passes.
    assert all_passed(results) is (not failed)


async def test_the_blacklisted_applicant_fails_credit_with_a_reason(
    registry: BaseRegistry,
) -> None:
    results = await run_checks(
        registry, "person", person_id("郭强"), HOUSING_FUND_LOAN, {}, today=TODAY
    )

    credit = next(r for r in results if r.check == "credit")
    assert (credit.passed, credit.code) == (False, "blacklisted")
    assert credit.reason == "listed as a dishonest judgment debtor"
    assert credit.reason_zh == "列入失信被执行人名单"


@pytest.mark.parametrize(
    ("matter", "name", "form", "failed"),
    [
        ("business-startup", "杭州云栖数字科技有限公司", {}, []),
        ("business-startup", "杭州拱宸餐饮管理有限公司", {}, ["legal-persons"]),  # revoked
        ("business-startup", "杭州滨江智造有限公司", {}, ["real-estate"]),  # rents
        ("business-startup", "杭州良渚文创有限公司", {}, ["population"]),  # rep deceased
        ("business-startup", "杭州湖墅贸易有限公司", {}, ["population"]),  # rep unknown
        (
            "construction-joint-approval",
            "杭州西溪建设工程有限公司",
            {"required_elicence_type": "construction-qualification"},
            [],
        ),
        (
            "construction-joint-approval",
            "浙江钱塘建筑设计院有限公司",
            {"required_elicence_type": "construction-qualification"},
            ["e-licences"],
        ),
        (
            "construction-joint-approval",
            "杭州拱宸餐饮管理有限公司",
            {},
            ["legal-persons", "e-licences"],
        ),
    ],
)
async def test_organisation_matters(
    registry: BaseRegistry, matter: str, name: str, form: dict[str, Any], failed: list[str]
) -> None:
    checks = matter_checks(matter)

    results = await run_checks(registry, "organisation", uscc(name), checks, form, today=TODAY)

    assert [r.check for r in results if not r.passed] == failed


@pytest.mark.parametrize(
    ("name", "destination", "failed"),
    [
        ("钱进", "滨江区", []),  # owns a flat there
        ("钱进", "杭州市滨江区", []),
        ("钱进", "西湖区", ["real-estate"]),  # registered there, owns nothing there
        ("马超", "西湖区", []),
        ("刘洋", "拱墅区", ["real-estate"]),
    ],
)
async def test_household_transfer_needs_property_in_the_destination(
    registry: BaseRegistry, name: str, destination: str, failed: list[str]
) -> None:
    form = {"from_district": "上城区", "to_district": destination, "reason": "购房迁入"}

    results = await run_checks(
        registry, "person", person_id(name), matter_checks("household-transfer"), form
    )

    assert [r.check for r in results if not r.passed] == failed


# --- Postgres only -----------------------------------------------------------------


async def test_the_migration_is_recorded(pool: asyncpg.Pool) -> None:
    versions = await pool.fetch(
        "SELECT version FROM platform.schema_migrations WHERE component = 'workflow'"
    )
    assert {"001_workflow", "002_registry"} <= {row["version"] for row in versions}


async def test_the_tables_hold_no_plain_identifier(
    connection: asyncpg.Connection, hmac_key: bytes
) -> None:
    await seed_registry(connection, hmac_key=hmac_key, seed=SEED)
    identifiers = (
        {p.id_number for p in SEED.people}
        | {o.uscc for o in SEED.organisations}
        | {o.legal_representative for o in SEED.organisations}
    )

    dumped = ""
    for table in TABLES:
        rows = await connection.fetch(f"SELECT t::text AS row FROM registry.{table} t")
        dumped += "\n".join(row["row"] for row in rows)

    assert lookup_key(hmac_key, person_id("张伟")) in dumped  # the rows are there
    assert [i for i in identifiers if i in dumped or i.lower() in dumped] == []


async def test_seeding_is_idempotent(pool: asyncpg.Pool) -> None:
    # A fixed key: rows under it are this test's own, and a rerun upserts them again.
    hmac_key = b"integration-test-seed-idempotency"
    keys = {lookup_key(hmac_key, p.id_number) for p in SEED.people}

    first = await seed_registry(pool, hmac_key=hmac_key)
    second = await seed_registry(pool, hmac_key=hmac_key)

    assert first == second == SeedCounts(21, 7, 25, 22, 27, 12)
    counted = await pool.fetchval(
        "SELECT count(*) FROM registry.people WHERE lookup_key = ANY($1::text[])", list(keys)
    )
    assert counted == len(SEED.people)
    registry = PostgresBaseRegistry(pool, hmac_key=hmac_key)
    assert (await registry.credit(person_id("郭强"))) == CreditRecord(True, 0)
