"""A demo tenant with one user per role, for trying the workbench out.

The first call creates the tenant "demo" (Demo Logistics) with the users
viewer, dispatcher, approver and admin. Each gets a random password, and
approver and admin get a TOTP secret as well. The passwords and secrets are
returned once, to the caller of that first call, and are stored only as a
hash (passwords) or in the users table (secrets). There is no fixed default
password.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyotp
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import SystemActor, append_entry
from core.auth import hash_password, new_totp_secret
from core.context import unit_of_work
from core.permissions import MFA_REQUIRED_FROM, Role
from db import cross_tenant
from db.repositories import users
from db.session import make_session_factory

logger = logging.getLogger(__name__)

DEMO_TENANT_SLUG = "demo"
DEMO_TENANT_NAME = "Demo Logistics"
DEMO_ROLES = {
    "viewer": Role.VIEWER,
    "dispatcher": Role.DISPATCHER,
    "approver": Role.PLAN_APPROVER,
    "admin": Role.TENANT_ADMIN,
}
# Label of the demo account in an authenticator app.
TOTP_ISSUER = "SOLVEREIGN demo"


@dataclass(frozen=True)
class DemoAccount:
    """One demo user with the password and TOTP secret it was created with.

    `role` is the role's name as users.role stores it, such as "PLAN_APPROVER".
    """

    username: str
    role: str
    password: str
    totp_secret: str | None

    @property
    def totp_uri(self) -> str | None:
        """The otpauth:// URI an authenticator app reads from a QR code."""
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(
            name=f"{self.username}@{DEMO_TENANT_SLUG}", issuer_name=TOTP_ISSUER
        )


@dataclass(frozen=True)
class DemoAccounts:
    """The accounts of a newly created demo tenant, in role order."""

    tenant_slug: str
    tenant_name: str
    accounts: tuple[DemoAccount, ...]

    def __iter__(self) -> Iterator[DemoAccount]:
        return iter(self.accounts)

    def __len__(self) -> int:
        return len(self.accounts)

    def account(self, username: str) -> DemoAccount:
        """Return the account with this username; raise KeyError if there is none."""
        for account in self.accounts:
            if account.username == username:
                return account
        raise KeyError(username)


def seed_demo_tenant(engine_or_none: Engine | None = None) -> DemoAccounts | None:
    """Create the demo tenant and its users, unless the tenant exists already.

    Returns the new accounts with their passwords, or None when the tenant
    "demo" existed, also when a concurrent call created it first. Uses the
    given engine, else the one configured in core.context.
    """
    with _transaction(engine_or_none) as session:
        if cross_tenant.tenant_id_for_slug(session, DEMO_TENANT_SLUG) is not None:
            return None

    accounts = tuple(
        DemoAccount(
            username=username,
            role=role.value,
            password=secrets.token_urlsafe(16),
            totp_secret=new_totp_secret() if role >= MFA_REQUIRED_FROM else None,
        )
        for username, role in DEMO_ROLES.items()
    )
    # Hashing takes a moment, so it happens before the transaction starts.
    password_hashes = {
        account.username: hash_password(account.password) for account in accounts
    }

    try:
        with _transaction(engine_or_none) as session:
            # The unique slug rejects a tenant that a concurrent call created since.
            tenant = cross_tenant.add_tenant(
                session, DEMO_TENANT_SLUG, DEMO_TENANT_NAME
            )
            for account in accounts:
                users.add(
                    session,
                    tenant.id,
                    account.username,
                    password_hashes[account.username],
                    account.role,
                    totp_secret=account.totp_secret,
                )
            append_entry(
                session,
                SystemActor(tenant.id, "demo-seed"),
                "tenant.demo_seeded",
                "tenant",
                tenant.id,
                {"user_count": len(accounts)},
            )
    except IntegrityError:
        logger.info("demo tenant created by a concurrent call; nothing seeded")
        return None
    logger.info("demo tenant %s created with %d users", tenant.id, len(accounts))
    return DemoAccounts(DEMO_TENANT_SLUG, DEMO_TENANT_NAME, accounts)


@contextmanager
def _transaction(engine: Engine | None) -> Iterator[Session]:
    if engine is None:
        with unit_of_work() as session:
            yield session
        return
    with make_session_factory(engine)() as session, session.begin():
        yield session
