"""The permission table: every role against every permission, with and without MFA."""

from __future__ import annotations

import itertools

import pytest

from core.errors import PermissionDenied
from core.permissions import (
    GRANTED_FROM,
    Actor,
    Permission,
    Role,
    effective_permissions,
    has_permission,
    permissions_of,
    require,
)
from db.models import ROLE_NAMES

V, D, A, T, S = (
    Role.VIEWER,
    Role.DISPATCHER,
    Role.PLAN_APPROVER,
    Role.TENANT_ADMIN,
    Role.SUPER_ADMIN,
)

# Written out by hand: the roles that have each permission after MFA.
EXPECTED_ROLES = {
    "forecast:read": {V, D, A, T, S},
    "plan:read": {V, D, A, T, S},
    "driver:read": {V, D, A, T, S},
    "forecast:write": {D, A, T, S},
    "plan:solve": {D, A, T, S},
    "availability:write": {D, A, T, S},
    "scenario:run": {D, A, T, S},
    "plan:approve": {A, T, S},
    "plan:lock": {A, T, S},
    "driver:write": {T, S},
    "user:manage": {T, S},
    "tenant:configure": {T, S},
    "audit:read": {T, S},
    "export:pii": {T, S},
    "system:admin": {S},
}

# The permissions that need the TOTP step on top of the password.
EXPECTED_MFA_PERMISSIONS = {
    "plan:approve",
    "plan:lock",
    "driver:write",
    "user:manage",
    "tenant:configure",
    "audit:read",
    "export:pii",
    "system:admin",
}

ALL_CASES = [(role, permission) for role in Role for permission in Permission]


def make_actor(role: Role, mfa_verified: bool = True) -> Actor:
    return Actor(
        user_id=1, tenant_id=1, role=role, username="tester", mfa_verified=mfa_verified
    )


def case_id(case: tuple[Role, Permission]) -> str:
    role, permission = case
    return f"{role.value}-{permission.value}"


def test_table_covers_every_permission():
    assert set(EXPECTED_ROLES) == {permission.value for permission in Permission}
    assert set(GRANTED_FROM) == set(Permission)


@pytest.mark.parametrize(("role", "permission"), ALL_CASES, ids=map(case_id, ALL_CASES))
def test_role_with_mfa_matches_table(role, permission):
    actor = make_actor(role)
    expected = role in EXPECTED_ROLES[permission.value]

    assert has_permission(actor, permission) is expected
    assert (permission in permissions_of(role)) is expected
    if expected:
        require(actor, permission)
    else:
        with pytest.raises(PermissionDenied) as denied:
            require(actor, permission)
        assert denied.value.permission == permission.value
        assert denied.value.role == role.value
        assert denied.value.mfa_required is False


@pytest.mark.parametrize(("role", "permission"), ALL_CASES, ids=map(case_id, ALL_CASES))
def test_role_without_mfa_lacks_mfa_permissions(role, permission):
    actor = make_actor(role, mfa_verified=False)
    in_table = role in EXPECTED_ROLES[permission.value]
    needs_totp = permission.value in EXPECTED_MFA_PERMISSIONS
    expected = in_table and not needs_totp

    assert has_permission(actor, permission) is expected
    if not expected:
        with pytest.raises(PermissionDenied) as denied:
            require(actor, permission)
        expected_mfa_required = in_table and needs_totp
        assert denied.value.mfa_required is expected_mfa_required


def test_viewer_cannot_approve_a_plan():
    with pytest.raises(PermissionDenied, match="role VIEWER does not have"):
        require(make_actor(Role.VIEWER), Permission.PLAN_APPROVE)


def test_approver_without_totp_cannot_approve():
    with pytest.raises(PermissionDenied, match="needs multi-factor sign-in"):
        require(
            make_actor(Role.PLAN_APPROVER, mfa_verified=False), Permission.PLAN_APPROVE
        )


def test_approver_without_totp_has_dispatcher_permissions():
    approver = make_actor(Role.PLAN_APPROVER, mfa_verified=False)

    assert effective_permissions(approver) == permissions_of(Role.DISPATCHER)


def test_roles_are_ordered_as_a_ladder():
    assert Role.VIEWER < Role.DISPATCHER < Role.PLAN_APPROVER
    assert Role.PLAN_APPROVER < Role.TENANT_ADMIN < Role.SUPER_ADMIN
    assert Role.TENANT_ADMIN >= Role.PLAN_APPROVER
    assert not Role.DISPATCHER > Role.TENANT_ADMIN


def test_higher_role_holds_every_permission_of_lower_role():
    ladder = sorted(Role)

    for lower, higher in itertools.pairwise(ladder):
        assert permissions_of(lower) < permissions_of(higher)


def test_role_values_match_the_stored_role_names():
    assert tuple(role.value for role in Role) == ROLE_NAMES
