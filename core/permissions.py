"""Roles, permissions and the check every core service makes before it acts.

Roles form a ladder, VIEWER < DISPATCHER < PLAN_APPROVER < TENANT_ADMIN <
SUPER_ADMIN, where SUPER_ADMIN is the platform operator's role. Each
permission is granted from one role upwards (`GRANTED_FROM`).

Permissions granted from PLAN_APPROVER upwards (approving, locking, user and
tenant administration, audit and personal-data export) also need
multi-factor sign-in. Until the TOTP step succeeds, an actor who signed in
with a password only has the permissions of DISPATCHER.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from core.errors import PermissionDenied


@functools.total_ordering
class Role(enum.Enum):
    """A user's role; roles compare by their place on the ladder."""

    VIEWER = "VIEWER"
    DISPATCHER = "DISPATCHER"
    PLAN_APPROVER = "PLAN_APPROVER"
    TENANT_ADMIN = "TENANT_ADMIN"
    SUPER_ADMIN = "SUPER_ADMIN"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def __lt__(self, other: Role) -> bool:
        if not isinstance(other, Role):
            return NotImplemented
        return self.rank < other.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}


class Permission(enum.Enum):
    FORECAST_READ = "forecast:read"
    PLAN_READ = "plan:read"
    DRIVER_READ = "driver:read"
    FORECAST_WRITE = "forecast:write"
    PLAN_SOLVE = "plan:solve"
    AVAILABILITY_WRITE = "availability:write"
    SCENARIO_RUN = "scenario:run"
    PLAN_APPROVE = "plan:approve"
    PLAN_LOCK = "plan:lock"
    DRIVER_WRITE = "driver:write"
    USER_MANAGE = "user:manage"
    TENANT_CONFIGURE = "tenant:configure"
    AUDIT_READ = "audit:read"
    EXPORT_PII = "export:pii"
    SYSTEM_ADMIN = "system:admin"


# The lowest role with each permission; every role above it has it too.
GRANTED_FROM: dict[Permission, Role] = {
    Permission.FORECAST_READ: Role.VIEWER,
    Permission.PLAN_READ: Role.VIEWER,
    Permission.DRIVER_READ: Role.VIEWER,
    Permission.FORECAST_WRITE: Role.DISPATCHER,
    Permission.PLAN_SOLVE: Role.DISPATCHER,
    Permission.AVAILABILITY_WRITE: Role.DISPATCHER,
    Permission.SCENARIO_RUN: Role.DISPATCHER,
    Permission.PLAN_APPROVE: Role.PLAN_APPROVER,
    Permission.PLAN_LOCK: Role.PLAN_APPROVER,
    Permission.DRIVER_WRITE: Role.TENANT_ADMIN,
    Permission.USER_MANAGE: Role.TENANT_ADMIN,
    Permission.TENANT_CONFIGURE: Role.TENANT_ADMIN,
    Permission.AUDIT_READ: Role.TENANT_ADMIN,
    Permission.EXPORT_PII: Role.TENANT_ADMIN,
    Permission.SYSTEM_ADMIN: Role.SUPER_ADMIN,
}

# Permissions granted from this role upwards need multi-factor sign-in.
MFA_REQUIRED_FROM = Role.PLAN_APPROVER


@dataclass(frozen=True)
class Actor:
    """The signed-in user on whose behalf a service acts."""

    user_id: int
    tenant_id: int
    role: Role
    username: str
    mfa_verified: bool = False


def permissions_of(role: Role) -> frozenset[Permission]:
    """Return every permission the role has after multi-factor sign-in."""
    return frozenset(
        permission for permission, lowest in GRANTED_FROM.items() if lowest <= role
    )


def needs_mfa(permission: Permission) -> bool:
    """Tell whether using the permission needs multi-factor sign-in."""
    return MFA_REQUIRED_FROM <= GRANTED_FROM[permission]


def effective_permissions(actor: Actor) -> frozenset[Permission]:
    """Return the permissions the actor may use now, given the sign-in so far."""
    granted = permissions_of(actor.role)
    if actor.mfa_verified:
        return granted
    return frozenset(permission for permission in granted if not needs_mfa(permission))


def has_permission(actor: Actor, permission: Permission) -> bool:
    """Tell whether the actor may use the permission now."""
    return permission in effective_permissions(actor)


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied unless the actor may use the permission now."""
    if has_permission(actor, permission):
        return
    mfa_required = permission in permissions_of(actor.role)
    raise PermissionDenied(permission.value, actor.role.value, mfa_required)
