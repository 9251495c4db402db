"""Fixtures for the service tests: core services configured on a real database.

`workbench` configures the services on the database under test of
tests/integration/conftest.py (a SQLite file, then the session's shared
PostgreSQL database). `private_workbench` gives a test a database of its
own, because the worker claims queued jobs of every tenant and must not
take jobs that other tests left in the shared database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.context import configure
from tests.integration.databases import Database, add_tenant, fresh_database


@pytest.fixture
def workbench(database: Database) -> Database:
    """The database under test, with the services configured to use it."""
    configure(database.engine)
    return database


@pytest.fixture(params=["sqlite", "postgresql"])
def private_workbench(request, tmp_path) -> Iterator[Database]:
    """A migrated database of this test alone, with the services configured on it."""
    with fresh_database(request.param, tmp_path) as database:
        configure(database.engine)
        yield database


@pytest.fixture
def make_private_tenant(private_workbench: Database):
    """Create tenants in the test's own database, each with one user per role."""
    return lambda: add_tenant(private_workbench.session_factory)
