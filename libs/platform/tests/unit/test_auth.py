"""Staff tokens: one API each (`aud`), the signing key named by `kid` among the API's
keys (rotation), a bounded lifetime, and a department that exists."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from onceonly.platform.auth import (
    ISSUER,
    StaffApi,
    StaffIdentity,
    StaffTokens,
    in_region,
    issue_staff_token,
    may_see_application,
    sees_every_application,
    verify_staff_token,
)
from onceonly.platform.http import Problem
from onceonly.platform.secrets import KeyRing, SettingsRefused
from onceonly.platform.settings import PlatformSettings

OLD = "k2025:the-previous-key-of-the-department-api-32b"
NEW = "k2026:the-current-key-of-the-department-api-32by"
TRACKING = "t1:the-tracking-api-key-is-another-one-entirely"
DEPARTMENTS = {"public-security", "tax"}


def ring(spec: str) -> KeyRing:
    return KeyRing.parse(spec, setting="TEST_KEYS")


def department_api(spec: str = NEW, *, hours: float = 12) -> StaffTokens:
    return StaffTokens(
        api=StaffApi.DEPARTMENT,
        keys=ring(spec),
        max_lifetime=timedelta(hours=hours),
        known_department=DEPARTMENTS.__contains__,
    )


def refusal(tokens: StaffTokens, token: str) -> str:
    with pytest.raises(Problem) as refused:
        verify_staff_token(tokens, token)
    assert refused.value.status == 401
    return refused.value.detail


def test_a_token_names_its_api_and_its_key() -> None:
    tokens = department_api()
    token = tokens.issue(staff_id="ps-1", department_code="public-security")
    assert jwt.get_unverified_header(token)["kid"] == "k2026"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == StaffApi.DEPARTMENT.value and claims["iss"] == ISSUER
    assert tokens.verify(token) == StaffIdentity("ps-1", "public-security", ("reviewer",))


def test_a_token_for_one_api_is_refused_by_another() -> None:
    tracking = StaffTokens(api=StaffApi.TRACKING, keys=ring(TRACKING))
    for_tracking = tracking.issue(staff_id="sup-1", department_code="x", roles=("supervision",))
    assert tracking.verify(for_tracking).roles == ("supervision",)
    # Another API's keys do not know its key id ...
    assert "unknown key" in refusal(department_api(), for_tracking)
    # ... and even under the same key, the audience is checked.
    same_key = StaffTokens(api=StaffApi.DEPARTMENT, keys=ring(TRACKING))
    assert "another API" in refusal(same_key, for_tracking)
    notify = StaffTokens(api=StaffApi.NOTIFY, keys=ring(TRACKING))
    assert "another API" in refusal(notify, for_tracking)


def test_a_token_with_several_audiences_is_refused() -> None:
    key_id, key = ring(NEW).current
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": [StaffApi.DEPARTMENT.value, StaffApi.TRACKING.value],
        "sub": "ps-1",
        "dept": "public-security",
        "roles": ["reviewer"],
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id})
    refusal(department_api(), token)


def test_keys_rotate_current_first_previous_still_verifying() -> None:
    before = department_api(OLD).issue(staff_id="ps-1", department_code="public-security")
    rotating = department_api(f"{NEW},{OLD}")
    assert rotating.verify(before).staff_id == "ps-1"
    after = rotating.issue(staff_id="ps-2", department_code="tax")
    assert jwt.get_unverified_header(after)["kid"] == "k2026"
    retired = department_api(NEW)
    assert retired.verify(after).staff_id == "ps-2"
    assert "unknown key" in refusal(retired, before)


def test_a_token_signed_with_another_key_under_a_known_id_is_refused() -> None:
    forged = department_api("k2026:someone-elses-key-with-enough-bytes-in-it").issue(
        staff_id="x", department_code="tax"
    )
    assert refusal(department_api(), forged) == "The token is not valid. 令牌无效."


def test_tokens_without_kid_expiry_or_issue_time_are_refused() -> None:
    key_id, key = ring(NEW).current
    now = datetime.now(UTC)
    base = {"iss": ISSUER, "aud": StaffApi.DEPARTMENT.value, "sub": "ps-1", "dept": "tax"}
    no_kid = jwt.encode({**base, "iat": now, "exp": now + timedelta(hours=1)}, key)
    refusal(department_api(), no_kid)
    no_exp = jwt.encode({**base, "iat": now}, key, headers={"kid": key_id})
    refusal(department_api(), no_exp)
    no_iat = jwt.encode({**base, "exp": now + timedelta(hours=1)}, key, headers={"kid": key_id})
    refusal(department_api(), no_iat)
    unsigned = jwt.encode(
        {**base, "iat": now, "exp": now}, None, algorithm="none", headers={"kid": key_id}
    )
    refusal(department_api(), unsigned)


def test_tokens_valid_longer_than_the_maximum_are_refused() -> None:
    tokens = department_api(hours=12)
    century = issue_staff_token(
        tokens.keys,
        api=StaffApi.DEPARTMENT,
        staff_id="ps-1",
        department_code="tax",
        ttl=timedelta(days=36500),
    )
    assert "longer than this API accepts (12 h)" in refusal(tokens, century)
    # Issued "in the future" to look short-lived: what counts is how long it is valid now.
    later = datetime.now(UTC) + timedelta(days=300)
    disguised = issue_staff_token(
        tokens.keys,
        api=StaffApi.DEPARTMENT,
        staff_id="ps-1",
        department_code="tax",
        ttl=timedelta(hours=1),
        now=later,
    )
    refusal(tokens, disguised)
    at_the_limit = tokens.issue(staff_id="ps-1", department_code="tax")
    assert tokens.verify(at_the_limit).department_code == "tax"
    stricter = department_api(hours=1)
    refusal(stricter, at_the_limit)


def test_expired_tokens_are_refused() -> None:
    tokens = department_api()
    old = issue_staff_token(
        tokens.keys,
        api=StaffApi.DEPARTMENT,
        staff_id="ps-1",
        department_code="tax",
        ttl=timedelta(hours=1),
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    assert "expired" in refusal(tokens, old)


def test_a_department_role_needs_a_department_of_the_catalogue() -> None:
    tokens = department_api()
    for role in ("reviewer", "department_head"):
        token = tokens.issue(staff_id="x", department_code="no-such-dept", roles=(role,))
        assert "department does not exist" in refusal(tokens, token)
    # Supervision and operations belong to offices outside the catalogue.
    office = tokens.issue(
        staff_id="sup-1", department_code="supervision-office", roles=("supervision",)
    )
    assert tokens.verify(office).roles == ("supervision",)
    mixed = tokens.issue(
        staff_id="x", department_code="supervision-office", roles=("supervision", "reviewer")
    )
    refusal(tokens, mixed)


def test_unknown_roles_are_refused_at_both_ends() -> None:
    tokens = department_api()
    with pytest.raises(ValueError, match="unknown roles"):
        tokens.issue(staff_id="x", department_code="tax", roles=("root",))
    key_id, key = tokens.keys.current
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": StaffApi.DEPARTMENT.value,
        "sub": "x",
        "dept": "tax",
        "roles": ["root"],
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    refusal(tokens, jwt.encode(claims, key, headers={"kid": key_id}))


def test_each_api_reads_its_own_keys_from_settings() -> None:
    for name in list(os.environ):
        assert not name.upper().startswith("ONCEONLY_"), "run without ONCEONLY_ variables"
    settings = PlatformSettings(
        environment="production",
        tracking_api_token_keys=TRACKING,
        staff_token_max_hours=8,
    )
    tracking = StaffTokens.from_settings(settings, StaffApi.TRACKING)
    assert tracking.keys.ids == ("t1",) and tracking.max_lifetime == timedelta(hours=8)
    with pytest.raises(SettingsRefused, match="ONCEONLY_DEPARTMENT_API_TOKEN_KEYS"):
        StaffTokens.from_settings(settings, StaffApi.DEPARTMENT)
    development = PlatformSettings(environment="development")
    ids = {api: StaffTokens.from_settings(development, api).keys.ids for api in StaffApi}
    assert len({key_ids for key_ids in ids.values()}) == 3, "one key per API"


# -- who sees which application (issue 15, items 2 and 10) -----------------------------


def staff(department: str, *roles: str) -> StaffIdentity:
    return StaffIdentity(staff_id="s-1", department_code=department, roles=roles)


@pytest.mark.parametrize("role", ["reviewer", "department_head"])
def test_a_department_sees_an_application_only_where_it_has_or_had_a_task(role: str) -> None:
    taking_part = {"public-security", "tax"}  # a removed or returned task still counts
    assert may_see_application(staff("tax", role), taking_part)
    assert not may_see_application(staff("health", role), taking_part)
    assert not may_see_application(staff("tax", role), set())  # no task started yet
    assert not sees_every_application(staff("tax", role))


@pytest.mark.parametrize("role", ["supervision", "operations"])
def test_supervision_and_operations_see_every_application(role: str) -> None:
    assert sees_every_application(staff("supervision-office", role))
    assert may_see_application(staff("supervision-office", role), set())
    # A token that adds an oversight role to a department role has the full view.
    assert may_see_application(staff("tax", "reviewer", role), {"health"})


def test_no_role_sees_nothing() -> None:
    assert not may_see_application(staff("tax"), {"health"})
    assert not may_see_application(staff("", "reviewer"), {"tax"})


def test_a_token_carries_the_staffs_division_and_a_malformed_one_is_refused() -> None:
    tokens = department_api()
    token = tokens.issue(staff_id="ps-9", department_code="public-security", region="330106")
    assert tokens.verify(token).region == "330106"
    # Without a region: the whole province, as before jurisdictions.
    assert tokens.verify(tokens.issue(staff_id="ps-1", department_code="tax")).region == ""
    with pytest.raises(ValueError, match="not a division code"):
        tokens.issue(staff_id="ps-9", department_code="tax", region="33")
    now = datetime.now(UTC)
    key_id, key = ring(NEW).current
    for region in ("33", "3301060", 330106, "330106; DROP"):
        forged = jwt.encode(
            {
                "iss": ISSUER,
                "aud": StaffApi.DEPARTMENT.value,
                "sub": "ps-9",
                "dept": "public-security",
                "roles": ["reviewer"],
                "region": region,
                "iat": now,
                "exp": now + timedelta(hours=1),
            },
            key,
            algorithm="HS256",
            headers={"kid": key_id},
        )
        assert "not valid" in refusal(tokens, forged)


def test_staff_of_a_division_see_it_and_what_lies_under_it() -> None:
    def who(region: str) -> StaffIdentity:
        return StaffIdentity("s", "supervision-office", ("supervision",), region)

    assert in_region(who(""), "320106")
    assert in_region(who("330000"), "330212")
    assert in_region(who("330100"), "330106001")
    assert not in_region(who("330100"), "330212")
    assert in_region(who("330106"), "330106001")
    assert not in_region(who("330106"), "330102")
    assert not in_region(who("330106001"), "330106")
