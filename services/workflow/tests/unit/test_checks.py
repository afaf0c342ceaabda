"""The shared-data check rules, `run_checks` over the in-memory registry, the lookup
key and the shipped seed data. No network: the Postgres adapter is held to the same
answers by the contract suite in tests/integration/test_registry.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from onceonly.catalogue import default_catalogue
from onceonly.workflow.checks import (
    MIN_SOCIAL_INSURANCE_MONTHS,
    ApplicantKind,
    Check,
    CheckResult,
    all_passed,
    decide_credit,
    decide_elicences,
    decide_legal_persons,
    decide_marriage,
    decide_population,
    decide_real_estate,
    decide_social_insurance,
    destination_district,
    run_checks,
)
from onceonly.workflow.registry import (
    CreditRecord,
    ELicenceRecord,
    ELicenceStatus,
    InMemoryBaseRegistry,
    MaritalStatus,
    OrganisationRecord,
    OrganisationStatus,
    PersonRecord,
    PropertyRecord,
    RegistrySeed,
    SeedError,
    SocialInsuranceRecord,
    load_seed,
    lookup_key,
    parse_seed,
)

PERSON = ApplicantKind.PERSON
ORGANISATION = ApplicantKind.ORGANISATION
TODAY = date(2026, 11, 23)
KEY = b"unit-test-registry-key-32-bytes!"
SEED = load_seed()


def person(
    *, alive: bool = True, marital_status: MaritalStatus = MaritalStatus.MARRIED
) -> PersonRecord:
    return PersonRecord("张伟", date(1987, 3, 15), "330106", marital_status, alive)


def organisation(
    *,
    status: OrganisationStatus = OrganisationStatus.ACTIVE,
    rep: PersonRecord | None = None,
) -> OrganisationRecord:
    return OrganisationRecord("杭州云栖数字科技有限公司", status, rep)


def flat(district_code: str = "330108", district_name: str = "杭州市滨江区") -> PropertyRecord:
    return PropertyRecord(
        "浙(2021)杭州市不动产权第0387201号", district_code, district_name, "residential", 72.3
    )


def licence(
    *,
    licence_type: str = "business-licence",
    issued_on: date = date(2021, 7, 15),
    valid_until: date | None = None,
    status: ELicenceStatus = ELicenceStatus.VALID,
) -> ELicenceRecord:
    return ELicenceRecord(
        "330106000202107150046", licence_type, "营业执照", issued_on, valid_until, status
    )


def outcome(result: CheckResult) -> tuple[bool, str]:
    return result.passed, result.code


# --- the rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, (False, "not_found")),
        (person(alive=False), (False, "deceased")),
        (person(), (True, "confirmed")),
    ],
)
def test_population_of_a_person(record: PersonRecord | None, expected: tuple[bool, str]) -> None:
    assert outcome(decide_population(PERSON, person=record)) == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, (False, "organisation_not_found")),
        (organisation(rep=None), (False, "legal_representative_not_found")),
        (organisation(rep=person(alive=False)), (False, "legal_representative_deceased")),
        (organisation(rep=person()), (True, "confirmed")),
        # Population asks about the representative; a revoked company is legal-persons' business.
        (organisation(status=OrganisationStatus.REVOKED, rep=person()), (True, "confirmed")),
    ],
)
def test_population_of_an_organisation_is_its_legal_representative(
    record: OrganisationRecord | None, expected: tuple[bool, str]
) -> None:
    assert outcome(decide_population(ORGANISATION, organisation=record)) == expected


@pytest.mark.parametrize(
    ("kind", "record", "expected"),
    [
        (PERSON, organisation(rep=person()), (False, "not_applicable")),
        (ORGANISATION, None, (False, "not_found")),
        (ORGANISATION, organisation(status=OrganisationStatus.REVOKED), (False, "revoked")),
        (ORGANISATION, organisation(), (True, "confirmed")),
    ],
)
def test_legal_persons(
    kind: ApplicantKind, record: OrganisationRecord | None, expected: tuple[bool, str]
) -> None:
    assert outcome(decide_legal_persons(kind, organisation=record)) == expected


@pytest.mark.parametrize(
    ("properties", "form", "expected"),
    [
        ([], {}, (False, "no_property")),
        ([flat()], {}, (True, "confirmed")),
        ([flat()], {"reason": "购房迁入"}, (True, "confirmed")),
        ([flat()], {"to_district": "330108"}, (True, "confirmed")),
        ([flat()], {"to_district": 330108}, (True, "confirmed")),  # JSON number
        ([flat()], {"to_district": "滨江区"}, (True, "confirmed")),
        ([flat()], {"to_district": "杭州市滨江区"}, (True, "confirmed")),
        ([flat()], {"destination_district": " 滨江区 "}, (True, "confirmed")),
        ([flat()], {"destination": "杭州市滨江区"}, (True, "confirmed")),
        ([flat()], {"to_district": "西湖区"}, (False, "no_property_in_district")),
        ([flat()], {"to_district": "330106"}, (False, "no_property_in_district")),
        # A tail of the name is not a district: 江区 is not 滨江区.
        ([flat()], {"to_district": "江区"}, (False, "no_property_in_district")),
        ([], {"to_district": "滨江区"}, (False, "no_property_in_district")),
        ([flat(), flat("330106", "杭州市西湖区")], {"to_district": "西湖区"}, (True, "confirmed")),
    ],
)
def test_real_estate(
    properties: list[PropertyRecord], form: dict[str, Any], expected: tuple[bool, str]
) -> None:
    assert outcome(decide_real_estate(properties, form)) == expected


def test_the_first_destination_field_present_wins() -> None:
    assert destination_district({"to_district": "滨江区", "destination": "西湖区"}) == "滨江区"
    assert destination_district({"to_district": "", "destination": "西湖区"}) == "西湖区"
    assert destination_district({"to_district": None, "reason": "工作调动"}) == ""


@pytest.mark.parametrize(
    ("kind", "record", "form", "expected"),
    [
        (ORGANISATION, None, {}, (False, "not_applicable")),
        (PERSON, None, {}, (False, "not_found")),
        (PERSON, person(marital_status=MaritalStatus.UNKNOWN), {}, (False, "status_unknown")),
        (PERSON, person(marital_status=MaritalStatus.MARRIED), {}, (True, "confirmed")),
        (PERSON, person(marital_status=MaritalStatus.UNMARRIED), {}, (True, "confirmed")),
        (PERSON, person(marital_status=MaritalStatus.DIVORCED), {}, (True, "confirmed")),
        (
            PERSON,
            person(marital_status=MaritalStatus.MARRIED),
            {"marital_status": "Married"},
            (True, "confirmed"),
        ),
        (
            PERSON,
            person(marital_status=MaritalStatus.DIVORCED),
            {"marital_status": "married"},
            (False, "status_mismatch"),
        ),
        (
            PERSON,
            person(marital_status=MaritalStatus.UNKNOWN),
            {"marital_status": "unmarried"},
            (False, "status_unknown"),
        ),
    ],
)
def test_marriage(
    kind: ApplicantKind,
    record: PersonRecord | None,
    form: dict[str, Any],
    expected: tuple[bool, str],
) -> None:
    assert outcome(decide_marriage(kind, person=record, form=form)) == expected


@pytest.mark.parametrize(
    ("months", "expected"),
    [
        (None, (False, "no_record")),
        (0, (False, "too_short")),
        (3, (False, "too_short")),
        (MIN_SOCIAL_INSURANCE_MONTHS - 1, (False, "too_short")),
        (MIN_SOCIAL_INSURANCE_MONTHS, (True, "confirmed")),
        (48, (True, "confirmed")),
    ],
)
def test_social_insurance_needs_six_continuous_months(
    months: int | None, expected: tuple[bool, str]
) -> None:
    record = None if months is None else SocialInsuranceRecord("杭州云栖数字科技有限公司", months)
    assert MIN_SOCIAL_INSURANCE_MONTHS == 6
    assert outcome(decide_social_insurance(record)) == expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, (False, "no_record")),
        (CreditRecord(blacklisted=True, overdue_loans=0), (False, "blacklisted")),
        (CreditRecord(blacklisted=True, overdue_loans=2), (False, "blacklisted")),
        (CreditRecord(blacklisted=False, overdue_loans=1), (False, "overdue_loan")),
        (CreditRecord(blacklisted=False, overdue_loans=0), (True, "confirmed")),
    ],
)
def test_credit(record: CreditRecord | None, expected: tuple[bool, str]) -> None:
    assert outcome(decide_credit(record)) == expected


@pytest.mark.parametrize(
    ("licences", "form", "expected"),
    [
        ([], {}, (False, "not_found")),
        ([licence()], {}, (True, "confirmed")),
        ([licence(valid_until=TODAY)], {}, (True, "confirmed")),  # valid through its last day
        ([licence(valid_until=date(2026, 11, 22))], {}, (False, "not_valid")),
        ([licence(status=ELicenceStatus.REVOKED)], {}, (False, "not_valid")),
        ([licence(issued_on=date(2026, 11, 24))], {}, (False, "not_valid")),
        (
            [licence(valid_until=date(2024, 1, 1)), licence(issued_on=date(2025, 1, 1))],
            {},
            (True, "confirmed"),
        ),
        (
            [licence()],
            {"required_elicence_type": "construction-qualification"},
            (False, "not_found"),
        ),
        (
            [licence(), licence(licence_type="construction-qualification")],
            {"required_elicence_type": "construction-qualification"},
            (True, "confirmed"),
        ),
        (
            [licence(licence_type="construction-qualification", valid_until=date(2026, 2, 28))],
            {"required_elicence_type": "construction-qualification"},
            (False, "not_valid"),
        ),
    ],
)
def test_elicences(
    licences: list[ELicenceRecord], form: dict[str, Any], expected: tuple[bool, str]
) -> None:
    assert outcome(decide_elicences(licences, form, today=TODAY)) == expected


def test_all_passed_needs_at_least_one_check() -> None:
    ok = CheckResult("credit", True, "no adverse credit record")
    failed = CheckResult("credit", False, "listed as a dishonest judgment debtor")
    assert all_passed([ok, ok])
    assert not all_passed([ok, failed])
    assert not all_passed([])


def test_every_catalogue_check_has_a_rule() -> None:
    named = {c for m in default_catalogue().matters for c in m.shared_data_checks}
    assert named == {str(c) for c in Check}


# --- run_checks --------------------------------------------------------------------


@dataclass
class CountingRegistry:
    """Delegates to the in-memory registry and counts the questions asked."""

    inner: InMemoryBaseRegistry
    calls: list[str] = field(default_factory=list)

    async def person(self, id_number: str) -> PersonRecord | None:
        self.calls.append("person")
        return await self.inner.person(id_number)

    async def organisation(self, uscc: str) -> OrganisationRecord | None:
        self.calls.append("organisation")
        return await self.inner.organisation(uscc)

    async def real_estate(self, owner_identifier: str) -> list[PropertyRecord]:
        self.calls.append("real_estate")
        return await self.inner.real_estate(owner_identifier)

    async def social_insurance(self, identifier: str) -> SocialInsuranceRecord | None:
        self.calls.append("social_insurance")
        return await self.inner.social_insurance(identifier)

    async def credit(self, identifier: str) -> CreditRecord | None:
        self.calls.append("credit")
        return await self.inner.credit(identifier)

    async def elicences(self, holder: str) -> list[ELicenceRecord]:
        self.calls.append("elicences")
        return await self.inner.elicences(holder)

    def record_key(self, identifier: str) -> str:
        return self.inner.record_key(identifier)


class UnreachableRegistry(CountingRegistry):
    async def credit(self, identifier: str) -> CreditRecord | None:
        raise ConnectionError("registry unreachable")


@pytest.fixture
def registry() -> CountingRegistry:
    return CountingRegistry(InMemoryBaseRegistry.from_seed(SEED, hmac_key=KEY))


HOUSING_FUND_CHECKS = list(default_catalogue().matter("housing-fund-loan").shared_data_checks)


async def test_run_checks_answers_each_check_in_order_asking_each_fact_once(
    registry: CountingRegistry,
) -> None:
    id_number = SEED.person("张伟").id_number
    checks = ["credit", "population", "marriage", "population"]

    results = await run_checks(registry, "person", id_number, checks, {}, today=TODAY)

    assert [r.check for r in results] == checks
    assert all(r.passed for r in results)
    assert sorted(registry.calls) == ["credit", "person"]


async def test_run_checks_asks_only_what_the_applicant_kind_needs(
    registry: CountingRegistry,
) -> None:
    uscc = SEED.organisation("杭州云栖数字科技有限公司").uscc
    checks = ["population", "legal-persons", "marriage"]

    results = await run_checks(registry, "organisation", uscc, checks, {}, today=TODAY)

    assert [outcome(r) for r in results] == [
        (True, "confirmed"),
        (True, "confirmed"),
        (False, "not_applicable"),
    ]
    assert registry.calls == ["organisation"]


async def test_each_check_records_which_registry_answered_which_record_and_when(
    registry: CountingRegistry,
) -> None:
    id_number = SEED.person("张伟").id_number
    times = iter([datetime(2026, 12, 5, 1, 0, second, tzinfo=UTC) for second in range(10)])

    results = await run_checks(
        registry,
        "person",
        id_number,
        ["population", "real-estate", "credit", "marriage"],
        {"to_district": "西湖区"},
        today=TODAY,
        now=lambda: next(times),
    )

    by_check = {r.check: r for r in results}
    key = registry.record_key(id_number)
    assert len(key) == 16 and key not in id_number
    assert by_check["population"].registry == "population"
    assert by_check["population"].record_reference == f"population/{key}"
    # The marriage check read the same population record, asked once.
    assert by_check["marriage"].registry == "population"
    assert by_check["marriage"].checked_at == by_check["population"].checked_at
    # A property is named by its certificate: the one in the destination district.
    flats = await registry.inner.real_estate(id_number)
    in_west_lake = sorted(p.certificate_number for p in flats if "西湖区" in p.district_name)
    assert in_west_lake
    assert by_check["real-estate"].record_reference == ",".join(in_west_lake)
    assert by_check["credit"].record_reference == f"credit/{key}"
    # Each fact's own time, in the order asked (credit, person, properties).
    assert [by_check[c].checked_at.second for c in ("credit", "population", "real-estate")] == [
        0,
        1,
        2,
    ]
    assert all(id_number not in repr(r) for r in results)


async def test_a_fact_not_found_still_names_what_was_asked(registry: CountingRegistry) -> None:
    unknown = "110101198505124564"  # valid, not in the seed
    results = await run_checks(registry, "person", unknown, ["population"], {}, today=TODAY)
    assert outcome(results[0]) == (False, "not_found")
    assert results[0].record_reference == f"population/{registry.record_key(unknown)}"


async def test_an_unknown_check_fails_without_an_exception(registry: CountingRegistry) -> None:
    id_number = SEED.person("张伟").id_number

    results = await run_checks(
        registry, "person", id_number, ["credit", "horoscope"], {}, today=TODAY
    )

    assert outcome(results[0]) == (True, "confirmed")
    assert results[1] == CheckResult(
        "horoscope", False, "unknown check", "未知的共享数据核验项", "unknown_check"
    )


async def test_an_unknown_applicant_kind_fails_every_check(registry: CountingRegistry) -> None:
    results = await run_checks(
        registry, "robot", SEED.person("张伟").id_number, ["population", "credit"], {}
    )

    assert [outcome(r) for r in results] == [(False, "unknown_applicant_kind")] * 2
    assert registry.calls == []


async def test_no_checks_ask_nothing(registry: CountingRegistry) -> None:
    assert await run_checks(registry, "person", SEED.person("张伟").id_number, [], {}) == []
    assert registry.calls == []


async def test_an_unreachable_registry_raises_rather_than_failing_the_check() -> None:
    registry = UnreachableRegistry(InMemoryBaseRegistry.from_seed(SEED, hmac_key=KEY))

    with pytest.raises(ConnectionError):
        await run_checks(registry, "person", SEED.person("张伟").id_number, ["credit"], {})


async def test_an_identifier_is_found_as_typed_by_the_applicant(
    registry: CountingRegistry,
) -> None:
    typed = " " + SEED.person("吴霞").id_number.lower() + " "  # ends in x

    results = await run_checks(registry, "person", typed, ["population"], {}, today=TODAY)

    assert outcome(results[0]) == (True, "confirmed")


async def test_run_checks_logs_the_identifier_masked_only(registry: CountingRegistry) -> None:
    id_number = SEED.person("郭强").id_number

    with capture_logs() as logs:
        await run_checks(registry, "person", id_number, HOUSING_FUND_CHECKS, {}, today=TODAY)

    decided = [entry for entry in logs if entry["event"] == "shared-data checks decided"]
    assert len(decided) == 1
    assert decided[0]["applicant"] == id_number[:4] + "*" * 14
    assert decided[0]["failed"] == ["credit:blacklisted"]
    assert id_number not in repr(logs)
    assert "郭强" not in repr(logs)


async def test_reasons_never_carry_personal_data(registry: CountingRegistry) -> None:
    every_check = [str(c) for c in Check]
    applicants = [("person", p.id_number) for p in SEED.people] + [
        ("organisation", o.uscc) for o in SEED.organisations
    ]
    personal = (
        {p.id_number for p in SEED.people}
        | {p.name for p in SEED.people}
        | {p.birth_date.strftime("%Y%m%d") for p in SEED.people}
        | {p.birth_date.isoformat() for p in SEED.people}
        | {o.uscc for o in SEED.organisations}
        | {o.name for o in SEED.organisations}
        | {s.employer for s in SEED.social_insurance}
        | {p.certificate_number for p in SEED.properties}
        | {e.number for e in SEED.elicences}
    )
    seen_reasons: set[str] = set()

    for kind, identifier in applicants:
        form = {"to_district": "滨江区", "marital_status": "married"}
        for result in await run_checks(registry, kind, identifier, every_check, form):
            for text in (result.reason, result.reason_zh):
                assert text
                assert not [item for item in personal if item in text], text
                seen_reasons.add(text)

    assert len(seen_reasons) > 20  # many different outcomes were looked at
    assert not any(re.search(r"[0-9]{6,}", text) for text in seen_reasons)


# --- lookup keys -------------------------------------------------------------------


def test_the_lookup_key_is_a_keyed_hash_of_the_normalised_identifier() -> None:
    id_number = "33010619830808122X"
    key = lookup_key(KEY, id_number)

    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert lookup_key(KEY, " 33010619830808122x ") == key
    assert lookup_key(b"another-registry-key-of-32-bytes", id_number) != key
    assert lookup_key(KEY, "330106198703152315") != key


def test_a_short_lookup_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        lookup_key(b"short", "330106198703152315")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        InMemoryBaseRegistry(hmac_key=b"")


async def test_another_key_finds_nothing() -> None:
    registry = InMemoryBaseRegistry.from_seed(SEED, hmac_key=KEY)
    stranger = InMemoryBaseRegistry(hmac_key=b"another-registry-key-of-32-bytes")
    stranger_keyed_seed = InMemoryBaseRegistry.from_seed(SEED, hmac_key=b"x" * 32)
    id_number = SEED.person("张伟").id_number

    assert await registry.person(id_number) is not None
    assert await stranger.person(id_number) is None
    assert await stranger_keyed_seed.person(id_number) is not None


# --- the seed data -----------------------------------------------------------------

# Independent implementations of the check characters (from the standards' weight
# tables, not from intake's code), so that a wrong seed identifier cannot hide.
_MOD11_2_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_GB32100_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_GB11714_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def resident_id_check(first17: str) -> str:
    return "10X98765432"[
        sum(int(c) * w for c, w in zip(first17, _MOD11_2_WEIGHTS, strict=True)) % 11
    ]


def uscc_check(first17: str) -> str:
    total = sum(_GB32100_CHARS.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return _GB32100_CHARS[(31 - total % 31) % 31]


def organisation_code_check(first8: str) -> str:
    total = sum(
        _GB11714_CHARS.index(c) * w for c, w in zip(first8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)
    )
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def test_the_independent_check_functions_agree_with_published_examples() -> None:
    assert resident_id_check("11010519491231002") == "X"  # GB 11643-1999's own example
    assert uscc_check("91350100M000100Y4") == "3"  # a code from the GB 32100 text
    assert organisation_code_check("D2143569") == "X"  # GB 11714-1997's example


@pytest.mark.parametrize("entry", SEED.people, ids=lambda p: p.name)
def test_seeded_resident_id_numbers_are_valid(entry: Any) -> None:
    number = entry.id_number
    assert re.fullmatch(r"[1-8][0-9]{16}[0-9X]", number)
    assert number[17] == resident_id_check(number[:17])
    assert date(1900, 1, 1) < entry.birth_date < TODAY
    assert entry.birth_date.strftime("%Y%m%d") == number[6:14]


@pytest.mark.parametrize("entry", SEED.organisations, ids=lambda o: o.name)
def test_seeded_credit_codes_are_valid(entry: Any) -> None:
    code = entry.uscc
    assert re.fullmatch(rf"[{_GB32100_CHARS}]{{18}}", code)
    assert code[17] == uscc_check(code[:17])
    assert code[16] == organisation_code_check(code[8:16])
    representative = entry.legal_representative
    assert representative[17] == resident_id_check(representative[:17])


def test_the_seed_covers_the_negative_cases() -> None:
    owners = {owner for p in SEED.properties for owner in p.owners}
    months = {s.identifier: s.months_continuous for s in SEED.social_insurance}

    assert len(SEED.people) >= 20
    assert len(SEED.organisations) >= 6
    assert [c for c in SEED.credit if c.blacklisted and c.identifier in _ids(SEED)]
    assert [o for o in SEED.organisations if o.status is OrganisationStatus.REVOKED]
    assert [p for p in SEED.people if p.id_number not in owners]
    assert [p for p in SEED.people if months.get(p.id_number) == 3]
    assert [p for p in SEED.people if not p.alive]
    assert [p for p in SEED.people if p.marital_status is MaritalStatus.UNKNOWN]
    assert [o for o in SEED.organisations if o.legal_representative not in _ids(SEED)]


def _ids(seed: RegistrySeed) -> set[str]:
    return {p.id_number for p in seed.people}


def seed_person(
    id_number: str = "'330106198703152315'",
    district: str = "'330106'",
    status: str = "married",
) -> str:
    """One `people` entry of a seed file, its values as written in YAML."""
    return (
        f"  - {{id_number: {id_number}, name: 张伟,"
        f" household_district: {district}, marital_status: {status}}}\n"
    )


def test_a_seed_with_an_entry_twice_is_refused_without_naming_it() -> None:
    with pytest.raises(SeedError, match="appears twice") as raised:
        parse_seed("people:\n" + seed_person() + seed_person(), origin="dup.yaml")
    assert "330106198703152315" not in str(raised.value)


@pytest.mark.parametrize(
    "entry",
    [
        # Unquoted: YAML reads a number, which must not silently become an identifier.
        seed_person(id_number="330106198703152315"),
        seed_person(id_number="'330106198713152315'"),
        seed_person(district="'3301'"),
        seed_person(status="engaged"),
    ],
    ids=["unquoted", "no-such-birth-date", "short-district", "unknown-status"],
)
def test_an_invalid_seed_entry_is_refused_without_quoting_it(entry: str) -> None:
    with pytest.raises(SeedError, match=r"(?s)bad\.yaml: .*people\.0") as raised:
        parse_seed("people:\n" + entry, origin="bad.yaml")
    assert "3301061987" not in str(raised.value)
