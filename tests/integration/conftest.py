"""Fixtures: the database under test, fresh tenants and a small solved week.

`database` runs a test once on a SQLite file of its own and once on the
session's PostgreSQL database (see databases.py). Tests share the PostgreSQL
database, so each one creates its own tenant (`make_tenant`) with a unique
slug and never depends on another test's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from solver.rules import RuleSettings
from solver.solve import SolveResult, plan_forecast
from tests.integration.databases import (
    SMALL_FORECAST,
    Database,
    PostgresUnavailable,
    TenantSetup,
    add_tenant,
    migrated_postgres_database,
    sqlite_database,
    unavailable,
)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Database | str]:
    """Create and migrate the session's PostgreSQL database, or return why not.

    The database has its own owner and application roles (databases.py).
    """
    try:
        with migrated_postgres_database() as postgres:
            yield postgres
    except PostgresUnavailable as error:
        yield str(error)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Iterator[Database]:
    """A migrated real database: a fresh SQLite file, or the session's PostgreSQL."""
    if request.param == "sqlite":
        with sqlite_database(tmp_path / "solvereign.db") as sqlite:
            yield sqlite
        return
    postgres = request.getfixturevalue("postgres_database")
    if isinstance(postgres, str):
        unavailable(postgres)
    yield postgres


@pytest.fixture
def postgres(request) -> Database:
    """The session's PostgreSQL database, for what only PostgreSQL does."""
    postgres = request.getfixturevalue("postgres_database")
    if isinstance(postgres, str):
        unavailable(postgres)
    return postgres


@pytest.fixture
def make_tenant(database: Database) -> Callable[[], TenantSetup]:
    """Create tenants of the database under test, each with unique ids."""
    return lambda: add_tenant(database.session_factory)


@pytest.fixture(scope="session")
def small_solve_result() -> SolveResult:
    """Plan SMALL_FORECAST once with the real optimiser (well under a second)."""
    return plan_forecast(SMALL_FORECAST, RuleSettings(), time_limit_seconds=30)
