"""Ending users' sessions: "end all sessions", disabling a user, the user list.

Any signed-in user may end all of their own sessions (sign out everywhere).
Ending another user's sessions, disabling or enabling a user and listing the
tenant's users need user:manage, which TENANT_ADMIN and SUPER_ADMIN have
after multi-factor sign-in. The target must be a user of the actor's
tenant (a user of another tenant is reported as not found and recorded), and
an actor cannot act on a user whose role is above their own. An actor cannot
disable their own account, so a tenant never locks out its last admin by
accident.

Ending sessions sets `revoked_at` on every open session of the user in the
database, and adds a "revoked before" mark of the user to the revocation
list (core.session_revocations). The next request of every tab of that user
then finds the session refused and shows the sign-in page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.audit import append_entry, record_security_event
from core.context import (
    PERMISSION_DENIED,
    authorize,
    current_engine,
    lock_tenant,
    unit_of_work,
)
from core.errors import InvalidInput, SolvereignError
from core.permissions import MFA_REQUIRED_FROM, Actor, Permission, Role
from core.session_revocations import add_revoked_user
from core.tenancy import get_owned
from db.models import User, utc_now
from db.repositories import sessions, users

logger = logging.getLogger(__name__)

SESSIONS_ENDED = "auth.sessions_ended"
USER_DISABLED = "user.disabled"
USER_ENABLED = "user.enabled"


class UserOutranksActor(SolvereignError):
    """The target user's role is above the actor's, so the actor may not act on it."""

    def __init__(self, user_id: int, user_role: Role, actor_role: Role) -> None:
        self.user_id = user_id
        super().__init__(
            f"user {user_id} has role {user_role.value}, above your role"
            f" {actor_role.value}; ask a {user_role.value} to do this"
        )


@dataclass(frozen=True)
class UserAccount:
    """One user of the tenant as the security page lists it."""

    user_id: int
    username: str
    role: str
    is_active: bool
    mfa_enrolled: bool
    needs_mfa: bool


def list_user_accounts(actor: Actor) -> list[UserAccount]:
    """Return the users of the actor's tenant by username. Needs user:manage."""
    authorize(actor, Permission.USER_MANAGE)
    with unit_of_work(actor) as session:
        return [
            UserAccount(
                user_id=user.id,
                username=user.username,
                role=user.role,
                is_active=user.is_active,
                mfa_enrolled=user.totp_secret is not None,
                needs_mfa=Role(user.role) >= MFA_REQUIRED_FROM,
            )
            for user in users.list_users(session, actor.tenant_id)
        ]


def end_all_sessions(actor: Actor, user_id: int, *, now: datetime | None = None) -> int:
    """End every session of the user and return how many were open.

    The actor's own sessions need no permission; another user's need
    user:manage. Raises NotFound for a user outside the actor's tenant and
    UserOutranksActor for a user with a higher role.
    """
    now = now or utc_now()
    if user_id != actor.user_id:
        authorize(actor, Permission.USER_MANAGE)
    with unit_of_work(actor) as session:
        user = _managed_user(session, actor, user_id)
        lock_tenant(session, actor.tenant_id)
        ended = sessions.revoke_all_of_user(session, actor.tenant_id, user.id, now)
        append_entry(
            session,
            actor,
            SESSIONS_ENDED,
            "user",
            user.id,
            {"sessions_ended": ended, "own_sessions": user.id == actor.user_id},
            occurred_at=now,
        )
    add_revoked_user(actor.tenant_id, user_id, now)
    logger.info(
        "user %s of tenant %s ended %s sessions of user %s",
        actor.user_id,
        actor.tenant_id,
        ended,
        user_id,
    )
    return ended


def set_user_active(
    actor: Actor, user_id: int, active: bool, *, now: datetime | None = None
) -> int:
    """Enable or disable a user; disabling ends all of the user's sessions.

    Returns how many sessions were ended. Needs user:manage. Raises
    InvalidInput when the actor disables their own account, NotFound for a
    user outside the actor's tenant and UserOutranksActor for a user with a
    higher role. Setting the state the user already has changes nothing
    and records nothing.
    """
    now = now or utc_now()
    authorize(actor, Permission.USER_MANAGE)
    if user_id == actor.user_id and not active:
        raise InvalidInput(
            "user", "you cannot disable your own account; ask another tenant admin"
        )
    with unit_of_work(actor) as session:
        user = _managed_user(session, actor, user_id)
        if user.is_active == active:
            return 0
        lock_tenant(session, actor.tenant_id)
        user.is_active = active
        ended = 0
        if not active:
            ended = sessions.revoke_all_of_user(session, actor.tenant_id, user.id, now)
        append_entry(
            session,
            actor,
            USER_ENABLED if active else USER_DISABLED,
            "user",
            user.id,
            {"sessions_ended": ended},
            occurred_at=now,
        )
    if not active:
        add_revoked_user(actor.tenant_id, user_id, now)
    logger.info(
        "user %s of tenant %s %s user %s",
        actor.user_id,
        actor.tenant_id,
        "enabled" if active else "disabled",
        user_id,
    )
    return ended


def _managed_user(session: Session, actor: Actor, user_id: int) -> User:
    """Load a user of the actor's tenant whose role is not above the actor's.

    A refusal for rank is recorded as a denied permission, before any write
    of the caller's transaction, because the event waits for those locks.
    """
    user = get_owned(session, actor, User, user_id)
    user_role = Role(user.role)
    if user_role > actor.role:
        record_security_event(
            current_engine(),
            actor,
            PERMISSION_DENIED,
            {
                "permission": Permission.USER_MANAGE.value,
                "role": actor.role.value,
                "target_role": user_role.value,
            },
            object_type="user",
            object_id=user.id,
        )
        raise UserOutranksActor(user.id, user_role, actor.role)
    return user
