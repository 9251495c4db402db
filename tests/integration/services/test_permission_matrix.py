"""Every way of signing in against every service action, checked by the matrix.

The expected outcome of each call comes from the product's permission matrix
(service_actions.PERMISSION_MATRIX) and never from core.permissions, so a
wrong entry in either the permission table or a service's check makes a
test fail. A permitted call must succeed, or fail only for the domain reason
its row names. A denied call must raise PermissionDenied, change no row of
the tenant, and append exactly one `security.permission_denied` entry to the
tenant's audit trail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from core.context import PERMISSION_DENIED
from core.driver_records import configure_driver_keyring
from core.errors import PermissionDenied
from core.permissions import GRANTED_FROM, Actor, Permission, Role, needs_mfa
from core.pii import Keyring, PiiKey
from core.session_revocations import MemoryRevocationList, configure_revocation_list
from tests.integration.services.service_actions import (
    ACTIONS,
    MFA_FROM,
    NOT_ACTIONS,
    PERMISSION_MATRIX,
    SIGN_INS,
    ServiceAction,
    TenantObjects,
    actor_first_functions,
    audit_records,
    matrix_allows,
    matrix_needs_mfa,
    qualified_name,
    sign_in_id,
    tenant_rows,
)

# Permissions of the matrix that no service uses: approving a plan version
# locks it, so plan:lock has no action of its own.
PERMISSIONS_WITHOUT_SERVICE = frozenset({Permission.PLAN_LOCK})


def _case(action: ServiceAction, sign_in: tuple[Role, bool]):
    return pytest.param(action, sign_in, id=f"{action.name}-{sign_in_id(sign_in)}")


def _sign_in_allows(action: ServiceAction, sign_in: tuple[Role, bool]) -> bool:
    role, mfa_verified = sign_in
    actor = Actor(
        user_id=0, tenant_id=0, role=role, username="", mfa_verified=mfa_verified
    )
    return matrix_allows(actor, action.permission)


PERMITTED = [
    _case(action, sign_in)
    for action in ACTIONS
    for sign_in in SIGN_INS
    if _sign_in_allows(action, sign_in)
]
DENIED = [
    _case(action, sign_in)
    for action in ACTIONS
    for sign_in in SIGN_INS
    if not _sign_in_allows(action, sign_in)
]


@pytest.fixture(autouse=True)
def revocation_list_in_memory() -> Iterator[None]:
    """Keep the session revocation marks of these tests in process memory."""
    configure_revocation_list(MemoryRevocationList())
    yield
    configure_revocation_list(None)


@pytest.fixture(autouse=True)
def driver_keyring_for_test() -> Iterator[None]:
    """Encrypt drivers' personal fields with a key of this test alone."""
    configure_driver_keyring(
        Keyring.from_keys([PiiKey("matrix-test", os.urandom(32))], "matrix-test")
    )
    yield
    configure_driver_keyring(None)


@pytest.fixture
def objects(workbench, make_tenant, small_solve_result) -> TenantObjects:
    return TenantObjects(workbench, make_tenant(), small_solve_result)


def denials(records):
    return [record for record in records if record.action == PERMISSION_DENIED]


@pytest.mark.parametrize(("action", "sign_in"), PERMITTED)
def test_permitted_call_succeeds(workbench, objects, action, sign_in):
    role, mfa_verified = sign_in
    actor = objects.tenant.actor(role, mfa_verified=mfa_verified)
    arguments = action.arguments(actor, objects)
    audit_before = audit_records(workbench, actor.tenant_id)
    domain_error = action.domain_error(actor)

    if domain_error is None:
        action.call(actor, arguments)
    else:
        with pytest.raises(domain_error):
            action.call(actor, arguments)

    audit_after = audit_records(workbench, actor.tenant_id)
    assert denials(audit_after) == denials(audit_before)


@pytest.mark.parametrize(("action", "sign_in"), DENIED)
def test_denied_call_only_adds_audit_entry(workbench, objects, action, sign_in):
    role, mfa_verified = sign_in
    actor = objects.tenant.actor(role, mfa_verified=mfa_verified)
    arguments = action.arguments(actor, objects)
    rows_before = tenant_rows(workbench, actor.tenant_id)
    audit_before = audit_records(workbench, actor.tenant_id)

    with pytest.raises(PermissionDenied) as denied:
        action.call(actor, arguments)

    rows_after = tenant_rows(workbench, actor.tenant_id)
    audit_after = audit_records(workbench, actor.tenant_id)
    new_entries = audit_after[len(audit_before) :]
    assert denied.value.permission == action.permission.value
    assert denied.value.role == role.value
    assert denied.value.mfa_required is matrix_needs_mfa(actor, action.permission)
    assert rows_after == rows_before
    assert audit_after[: len(audit_before)] == audit_before
    assert len(new_entries) == 1
    assert new_entries[0].action == PERMISSION_DENIED
    assert new_entries[0].actor_user_id == actor.user_id
    assert new_entries[0].object_id == action.permission.value
    assert new_entries[0].details["role"] == role.value


@pytest.mark.parametrize(
    "action",
    [action for action in ACTIONS if action.permission is not None],
    ids=lambda action: action.name,
)
def test_action_checks_its_own_permission(workbench, objects, monkeypatch, action):
    """Raise the action's permission to SUPER_ADMIN and expect a TENANT_ADMIN denied.

    Every role has the read permissions, so only this shows that a read
    action checks its permission at all, and that each action checks the
    permission its row names rather than another one.
    """
    actor = objects.tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)
    arguments = action.arguments(actor, objects)
    rows_before = tenant_rows(workbench, actor.tenant_id)
    audit_before = audit_records(workbench, actor.tenant_id)
    monkeypatch.setitem(GRANTED_FROM, action.permission, Role.SUPER_ADMIN)

    with pytest.raises(PermissionDenied) as denied:
        action.call(actor, arguments)

    new_entries = audit_records(workbench, actor.tenant_id)[len(audit_before) :]
    assert denied.value.permission == action.permission.value
    assert tenant_rows(workbench, actor.tenant_id) == rows_before
    assert [entry.action for entry in new_entries] == [PERMISSION_DENIED]
    assert new_entries[0].object_id == action.permission.value


def test_every_service_action_has_row():
    found = set(actor_first_functions())
    in_table = {qualified_name(action.function) for action in ACTIONS}

    missing = found - in_table - NOT_ACTIONS

    assert missing == set(), f"service actions without a row in ACTIONS: {missing}"


def test_table_names_existing_functions():
    found = set(actor_first_functions())
    in_table = {qualified_name(action.function) for action in ACTIONS}

    assert in_table - found == set()
    assert NOT_ACTIONS - found == set()
    assert in_table & NOT_ACTIONS == set()


def test_action_names_are_unique():
    names = [action.name for action in ACTIONS]

    assert len(names) == len(set(names))


def test_cases_permit_and_deny_permissions():
    in_use = {action.permission for action in ACTIONS} - {None}
    above_viewer = {
        permission
        for permission in in_use
        if PERMISSION_MATRIX[permission.value] > Role.VIEWER
    }
    permitted = {case.values[0].permission for case in PERMITTED}
    denied = {case.values[0].permission for case in DENIED}

    assert in_use <= permitted
    assert above_viewer <= denied


def test_unused_permissions_are_listed():
    in_use = {action.permission for action in ACTIONS} - {None}

    assert in_use | PERMISSIONS_WITHOUT_SERVICE == set(Permission)
    assert in_use & PERMISSIONS_WITHOUT_SERVICE == set()


def test_permission_table_matches_matrix():
    stored = {permission.value: role for permission, role in GRANTED_FROM.items()}

    assert stored == PERMISSION_MATRIX


@pytest.mark.parametrize("permission", list(Permission), ids=lambda p: p.value)
def test_mfa_needed_from_plan_approver(permission):
    lowest = PERMISSION_MATRIX[permission.value]

    assert needs_mfa(permission) is (lowest >= MFA_FROM)
