"""Building blocks for the driver tests: a test keyring, drivers, audit entries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from core.driver_records import configure_driver_keyring
from core.drivers import DriverInput, create_driver
from core.permissions import Actor, Role
from core.pii import Keyring, PiiKey
from db.models import AuditEntry
from db.repositories import audit_log
from tests.integration.databases import Database, TenantSetup

TEST_KEY_ID = "test-key"

ANNA = DriverInput(
    external_ref="D001",
    display_name="Anna Schmidt",
    phone="+49 30 1234567",
    email="anna.schmidt@example.com",
    address="Hauptstraße 1\n10115 Berlin",
    licence_number="B072RRE2I55",
    home_depot="Nord",
    qualifications=("ADR", "KUEHL"),
)
BEN = DriverInput(external_ref="D002", display_name="Ben Öztürk", home_depot="Süd")


@pytest.fixture
def driver_keys() -> Iterator[Keyring]:
    """Give the services a keyring with one fresh key, and forget it afterwards."""
    keyring = Keyring.from_keys([PiiKey(TEST_KEY_ID, os.urandom(32))], TEST_KEY_ID)
    configure_driver_keyring(keyring)
    yield keyring
    configure_driver_keyring(None)


def admin_of(tenant: TenantSetup) -> Actor:
    return tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)


def add_driver(tenant: TenantSetup, driver: DriverInput = ANNA, **changes: Any) -> int:
    """Create a driver through the service as the tenant admin; return its id."""
    return create_driver(admin_of(tenant), replace(driver, **changes)).driver_id


def entries(
    database: Database, tenant_id: int, action: str | None = None
) -> list[AuditEntry]:
    """Return the tenant's audit entries in sequence order, optionally of one action."""
    with database.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action)


def raw_driver_row(database: Database, driver_id: int) -> dict[str, Any]:
    """Read a driver's stored columns as they are, past the services."""
    with database.unguarded_connection() as connection:
        row = connection.execute(
            text("SELECT * FROM drivers WHERE id = :id"), {"id": driver_id}
        ).one()
    return dict(row._mapping)
