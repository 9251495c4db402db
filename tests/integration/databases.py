"""Real databases for the integration tests, and tenants to test with.

Tests run on a SQLite file of their own, migrated from scratch, and on a
PostgreSQL database `solvereign_test_<random hex>` that is created per test
session through the server's `test` database, migrated from scratch and
dropped at the end (fixtures in conftest.py).

The server is SOLVEREIGN_TEST_POSTGRES_URL, by default
postgresql://postgres@127.0.0.1:5432/test (a superuser, which the tamper
tests need to switch triggers off). When it cannot be reached, PostgreSQL
tests fail if CI=true and are skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.permissions import Actor, Role
from db.repositories import tenants, users
from db.session import make_engine, make_session_factory, migrate
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


@dataclass
class Database:
    """A migrated database under test and the ways to reach it."""

    dialect: str
    engine: Engine
    session_factory: sessionmaker[Session]

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def unguarded_connection(self) -> Iterator[Connection]:
        """Open a connection without the SQL guard, to test the triggers beneath it.

        The triggers stay on. The engine is disposed when the block ends.
        """
        engine = make_engine(self.engine.url, sql_guard=False)
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
        engine = make_engine(self.engine.url, sql_guard=False)
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


@contextmanager
def sqlite_database(path: Path) -> Iterator[Database]:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    try:
        yield Database("sqlite", engine, make_session_factory(engine))
    finally:
        engine.dispose()


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
        with created_postgres_database() as url:
            engine = make_engine(url)
            try:
                migrate(engine)
                yield Database("postgresql", engine, make_session_factory(engine))
            finally:
                engine.dispose()
    except PostgresUnavailable as error:
        unavailable(str(error))
