"""Real databases for the integration tests, and tenants to test with.

Tests run on a SQLite file of their own, migrated from scratch, and on a
PostgreSQL database `solvereign_test_<random hex>` that is created per test
session through the server's `test` database, migrated from scratch and
dropped at the end (fixtures in conftest.py).

On PostgreSQL each such database comes with two login roles of random
names, created with it and dropped after it, as a deployment has them:

- the owner role, NOSUPERUSER NOBYPASSRLS, which owns the database and runs
  the migrations, so it owns every table;
- the application role, NOSUPERUSER NOBYPASSRLS, which owns nothing and
  gets the privileges that migration 0005 grants. `Database.engine`, the
  engine the services are configured with, connects as this role, so every
  service call runs under row-level security.

The server is SOLVEREIGN_TEST_POSTGRES_URL, by default
postgresql://postgres@127.0.0.1:5432/test, a superuser. Tests arrange and
inspect rows of any tenant through `Database.session_factory`, which
connects as that superuser (row-level security does not apply to it), and
the tamper tests switch triggers off through it. When the server cannot be
reached, PostgreSQL tests fail if CI=true and are skipped with the reason
otherwise.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.permissions import Actor, Role
from db.repositories import tenants, users
from db.session import make_engine, make_session_factory, migrate
from db.sql_guard_rules import TENANT_SETTING
from solver.tours import Forecast, TourTemplate

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5

# A Monday, and a small week: two Monday tours that fit a double block, two
# tours needing ADR on Tuesday and a night tour from Wednesday into Thursday.
WEEK_ANCHOR = date(2025, 12, 1)
SMALL_FORECAST = Forecast.from_templates(
    [
        TourTemplate(day=1, start_minute=6 * 60, end_minute=10 * 60 + 30, count=2),
        TourTemplate(day=1, start_minute=11 * 60 + 30, end_minute=16 * 60, count=1),
        TourTemplate(
            day=2,
            start_minute=6 * 60,
            end_minute=10 * 60 + 30,
            count=2,
            qualification="ADR",
        ),
        TourTemplate(day=3, start_minute=22 * 60, end_minute=1 * 60 + 30, count=1),
    ]
)


@dataclass(frozen=True)
class PostgresRoles:
    """The owner and application roles of one test database, with their URLs."""

    owner: str
    app: str
    owner_url: str
    app_url: str


@dataclass
class Database:
    """A migrated database under test and the ways to reach it.

    `engine` is the application's: guarded, and on PostgreSQL connected as
    the application role. `session_factory` arranges and inspects rows: on
    PostgreSQL it connects as the test server's superuser, on SQLite it uses
    `engine`. `admin_url` is the superuser's URL of the same database (the
    file's URL on SQLite). `roles` is None on SQLite.
    """

    dialect: str
    engine: Engine
    session_factory: sessionmaker[Session]
    admin_url: URL
    roles: PostgresRoles | None = None

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def unguarded_connection(self) -> Iterator[Connection]:
        """Open a connection without the SQL guard, to test the triggers beneath it.

        It connects as the superuser on PostgreSQL, so privileges and
        row-level security do not stop it. The triggers stay on. The engine
        is disposed when the block ends.
        """
        engine = make_engine(self.admin_url, sql_guard=False)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    @contextmanager
    def privileged_connection(self) -> Iterator[Connection]:
        """Open a raw connection with the audit and plan triggers switched off.

        The connection comes from an engine of its own without the SQL guard,
        which the application's engine always has and which refuses both
        switches below. PostgreSQL: the superuser sets
        session_replication_role to replica, which skips ordinary triggers
        for this connection only. SQLite has no such switch, so the triggers
        are dropped from this test's own file. Changes are committed when the
        block ends, and the engine is disposed.
        """
        engine = make_engine(self.admin_url, sql_guard=False)
        try:
            with engine.connect() as connection:
                if self.is_postgresql:
                    connection.execute(text("SET session_replication_role = replica"))
                else:
                    trigger_names = connection.scalars(
                        text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    ).all()
                    for name in trigger_names:
                        connection.execute(text(f'DROP TRIGGER "{name}"'))
                yield connection
                connection.commit()
        finally:
            engine.dispose()


@dataclass(frozen=True)
class TenantSetup:
    """A fresh tenant with one user of each role, ready for a test."""

    tenant_id: int
    slug: str
    actors: dict[Role, Actor]

    def actor(self, role: Role = Role.DISPATCHER, mfa_verified: bool = True) -> Actor:
        """Return the tenant's user of this role, with or without MFA done."""
        actor = self.actors[role]
        return Actor(
            user_id=actor.user_id,
            tenant_id=actor.tenant_id,
            role=actor.role,
            username=actor.username,
            mfa_verified=mfa_verified,
        )


def postgres_admin_url() -> str:
    return os.environ.get("SOLVEREIGN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def unavailable(reason: str) -> None:
    """Fail the test in CI and skip it elsewhere, naming the reason."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI but {reason}")
    pytest.skip(reason)


@contextmanager
def created_postgres_database() -> Iterator[str]:
    """Create an empty database `solvereign_test_<hex>` and drop it afterwards."""
    admin_url = make_url(postgres_admin_url())
    admin_engine = make_engine(
        admin_url,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
    )
    name = f"solvereign_test_{uuid.uuid4().hex[:16]}"
    try:
        with admin_engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin_engine.dispose()
        raise PostgresUnavailable(
            f"PostgreSQL at {admin_url.render_as_string()} cannot be reached:"
            f" {error.orig}"
        ) from error
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


class PostgresUnavailable(Exception):
    pass


def new_roles(admin_url: str) -> PostgresRoles:
    """Name an owner and an application role, with random names and passwords."""
    url = make_url(admin_url)
    suffix = uuid.uuid4().hex[:12]
    owner = f"solvereign_owner_{suffix}"
    app = f"solvereign_app_{suffix}"
    return PostgresRoles(
        owner=owner,
        app=app,
        owner_url=_login_url(url, owner, secrets.token_hex(16)),
        app_url=_login_url(url, app, secrets.token_hex(16)),
    )


def _login_url(url: URL, role: str, password: str) -> str:
    return url.set(username=role, password=password).render_as_string(
        hide_password=False
    )


def create_roles(admin_url: str, roles: PostgresRoles) -> None:
    """Create both roles LOGIN NOSUPERUSER NOBYPASSRLS; the owner owns the database.

    Owning the database lets the owner create the tables in its schema.
    """
    url = make_url(admin_url)
    admin_engine = make_engine(url, sql_guard=False, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as connection:
            for login_url in (roles.owner_url, roles.app_url):
                login = make_url(login_url)
                connection.execute(
                    text(
                        f'CREATE ROLE "{login.username}" LOGIN NOSUPERUSER'
                        f" NOBYPASSRLS PASSWORD '{login.password}'"
                    )
                )
            connection.execute(
                text(f'ALTER DATABASE "{url.database}" OWNER TO "{roles.owner}"')
            )
    finally:
        admin_engine.dispose()


def drop_roles(roles: PostgresRoles) -> None:
    """Drop the roles of a test database, which must be dropped already."""
    admin_engine = make_engine(
        postgres_admin_url(), sql_guard=False, isolation_level="AUTOCOMMIT"
    )
    try:
        with admin_engine.connect() as connection:
            for role in (roles.app, roles.owner):
                connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    finally:
        admin_engine.dispose()


@contextmanager
def migrated_postgres_database() -> Iterator[Database]:
    """Create a PostgreSQL database with its two roles, migrated by the owner.

    The database and both roles are dropped when the block ends. Raises
    PostgresUnavailable when the server cannot be reached.
    """
    roles = None
    try:
        with created_postgres_database() as admin_url:
            roles = new_roles(admin_url)
            create_roles(admin_url, roles)
            owner_engine = make_engine(roles.owner_url, sql_guard=False)
            try:
                migrate(owner_engine, app_role=roles.app)
            finally:
                owner_engine.dispose()
            engine = make_engine(roles.app_url)
            admin_engine = make_engine(admin_url)
            try:
                yield Database(
                    "postgresql",
                    engine,
                    make_session_factory(admin_engine),
                    make_url(admin_url),
                    roles,
                )
            finally:
                engine.dispose()
                admin_engine.dispose()
    finally:
        # Reached after the database is dropped, which the roles' objects were in.
        if roles is not None:
            drop_roles(roles)


@contextmanager
def sqlite_database(path: Path) -> Iterator[Database]:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    try:
        yield Database("sqlite", engine, make_session_factory(engine), engine.url)
    finally:
        engine.dispose()


def bind_tenant(connection: Connection, tenant_id: int) -> None:
    """Name the tenant of the connection's transaction, as the services do.

    On PostgreSQL, row-level security then shows this transaction the
    tenant's rows only, and the setting ends with the transaction. SQLite
    has no row-level security, so nothing is run there.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(f"SELECT set_config('{TENANT_SETTING}', :tenant_id, true)"),
            {"tenant_id": str(tenant_id)},
        )


def add_tenant(session_factory: sessionmaker[Session]) -> TenantSetup:
    """Insert a tenant with a unique slug and one user per role, and commit."""
    slug = f"tenant-{uuid.uuid4().hex[:12]}"
    with session_factory() as session, session.begin():
        tenant = tenants.add(session, slug=slug, name=f"Operator {slug}")
        actors = {}
        for role in Role:
            username = f"{role.value.lower()}-{slug}"
            user = users.add(
                session,
                tenant.id,
                username,
                password_hash="not-a-real-hash",
                role=role.value,
            )
            actors[role] = Actor(
                user_id=user.id, tenant_id=tenant.id, role=role, username=username
            )
    return TenantSetup(tenant_id=tenant.id, slug=slug, actors=actors)


@contextmanager
def fresh_database(dialect: str, directory: Path) -> Iterator[Database]:
    """Create and migrate a database that only the calling test uses."""
    if dialect == "sqlite":
        with sqlite_database(directory / "fresh.db") as sqlite:
            yield sqlite
        return
    try:
        with migrated_postgres_database() as postgres:
            yield postgres
    except PostgresUnavailable as error:
        unavailable(str(error))
