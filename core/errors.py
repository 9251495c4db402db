"""Errors that core services raise, each carrying the object or rule at fault.

Pages show the message as it is, so every message states what failed in words
a dispatcher understands and, where there is one, what to do next.
"""

from __future__ import annotations


class SolvereignError(Exception):
    """Base of the errors that services raise on purpose."""


class PermissionDenied(SolvereignError):
    """The actor's role does not grant the permission the action needs.

    `mfa_required` is True when the role grants the permission but only after
    multi-factor sign-in, which the actor has not completed.
    """

    def __init__(self, permission: str, role: str, mfa_required: bool = False) -> None:
        self.permission = permission
        self.role = role
        self.mfa_required = mfa_required
        if mfa_required:
            message = (
                f"permission {permission} needs multi-factor sign-in for role"
                f" {role}; sign in again with your authenticator code"
            )
        else:
            message = (
                f"role {role} does not have permission {permission};"
                " ask a tenant admin for a role that has it"
            )
        super().__init__(message)


class NotFound(SolvereignError):
    """The object does not exist for this tenant.

    The same error, with the same message, is raised for an id that exists
    only in another tenant, so the message reveals nothing about other tenants.
    """

    def __init__(self, object_type: str, object_id: object) -> None:
        self.object_type = object_type
        self.object_id = object_id
        super().__init__(f"{object_type} {object_id} not found")


class Conflict(SolvereignError):
    """Someone else changed the object since it was read, or it already exists."""

    def __init__(self, object_type: str, object_id: object, reason: str) -> None:
        self.object_type = object_type
        self.object_id = object_id
        self.reason = reason
        super().__init__(f"{object_type} {object_id}: {reason}")


class PlanLocked(SolvereignError):
    """The plan version is approved, so it and its assignments cannot change."""

    def __init__(self, plan_version_id: int) -> None:
        self.plan_version_id = plan_version_id
        super().__init__(
            f"plan version {plan_version_id} is approved and locked;"
            " solve a new version to make changes"
        )


class InvalidInput(SolvereignError):
    """A value from the user is invalid; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
