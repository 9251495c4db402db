"""The retention job: erase drivers inactive for longer than the tenant keeps them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from core.audit_log import verify_tenant_audit_chain
from core.drivers import deactivate_driver, get_driver
from core.errors import InvalidInput, PermissionDenied
from core.gdpr import DRIVER_ERASED, set_legal_hold
from core.permissions import Role
from core.retention import (
    DEFAULT_RETENTION_DAYS,
    RETENTION_CHANGED,
    RETENTION_RUN,
    erase_expired_drivers,
    get_retention_days,
    run_retention,
    set_retention_days,
)
from db.models import Driver
from tests.integration.databases import add_tenant, sqlite_database
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    admin_of,
    driver_keys,  # noqa: F401 (fixture)
    entries,
    raw_driver_row,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEACTIVATED_AT = datetime(2023, 3, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=DEFAULT_RETENTION_DAYS)


@pytest.fixture
def tenant(workbench, make_tenant, driver_keys):  # noqa: F811
    return make_tenant()


def deactivated_driver(workbench, tenant, driver=ANNA, **changes) -> int:
    """Create a driver, deactivate it, and date the deactivation DEACTIVATED_AT."""
    driver_id = add_driver(tenant, driver, **changes)
    admin = admin_of(tenant)
    version = get_driver(admin, driver_id).driver.row_version
    deactivate_driver(admin, driver_id, version)
    set_deactivated_at(workbench, driver_id, DEACTIVATED_AT)
    return driver_id


def set_deactivated_at(workbench, driver_id: int, moment: datetime) -> None:
    """Date a driver's deactivation, stored as the model stores timestamps."""
    with workbench.session_factory() as session, session.begin():
        session.get(Driver, driver_id).deactivated_at = moment


class TestRetentionBoundary:
    def test_driver_inactive_exactly_the_period_is_kept(self, workbench, tenant):
        driver_id = deactivated_driver(workbench, tenant)

        result = erase_expired_drivers(tenant.tenant_id, DEACTIVATED_AT + RETENTION)

        assert result.erased == ()
        assert raw_driver_row(workbench, driver_id)["erased_at"] is None

    def test_driver_inactive_longer_is_erased(self, workbench, tenant):
        driver_id = deactivated_driver(workbench, tenant)
        now = DEACTIVATED_AT + RETENTION + timedelta(seconds=1)

        result = erase_expired_drivers(tenant.tenant_id, now)

        row = raw_driver_row(workbench, driver_id)
        assert result.erased == (row["external_ref"],)
        assert row["display_name_ciphertext"] is None
        assert row["external_ref"].startswith("erased-")

    def test_active_driver_is_never_erased(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)
        now = datetime.now(UTC) + 3 * RETENTION

        result = erase_expired_drivers(tenant.tenant_id, now)

        assert result.erased == ()
        assert raw_driver_row(workbench, driver_id)["erased_at"] is None


class TestRetentionRun:
    def test_held_driver_is_kept_and_run_is_recorded(self, workbench, tenant):
        expired = deactivated_driver(workbench, tenant)
        held = deactivated_driver(workbench, tenant, BEN)
        set_legal_hold(admin_of(tenant), held, True)
        now = DEACTIVATED_AT + RETENTION + timedelta(days=1)

        result = erase_expired_drivers(tenant.tenant_id, now)

        assert len(result.erased) == 1
        assert result.kept_on_hold == 1
        assert raw_driver_row(workbench, expired)["erased_at"] is not None
        assert raw_driver_row(workbench, held)["display_name_ciphertext"] is not None
        [run] = entries(workbench, tenant.tenant_id, RETENTION_RUN)
        assert run.actor_user_id is None
        assert run.details["system_actor"] == "retention-job"
        assert run.details["erased"] == 1
        assert run.details["kept_on_hold"] == 1
        assert run.details["erased_drivers"] == list(result.erased)
        [erased] = entries(workbench, tenant.tenant_id, DRIVER_ERASED)
        assert erased.object_id == str(expired)
        assert erased.details["reason"] == "retention"
        assert verify_tenant_audit_chain(admin_of(tenant)).ok

    def test_second_run_is_a_no_op(self, workbench, tenant):
        deactivated_driver(workbench, tenant)
        now = DEACTIVATED_AT + RETENTION + timedelta(days=1)
        erase_expired_drivers(tenant.tenant_id, now)
        count_before = len(entries(workbench, tenant.tenant_id))

        result = erase_expired_drivers(tenant.tenant_id, now + timedelta(days=1))

        assert result.erased == ()
        assert len(entries(workbench, tenant.tenant_id)) == count_before

    def test_shorter_retention_erases_earlier(self, workbench, tenant):
        driver_id = deactivated_driver(workbench, tenant)
        set_retention_days(admin_of(tenant), 30)

        result = erase_expired_drivers(
            tenant.tenant_id, DEACTIVATED_AT + timedelta(days=31)
        )

        assert result.retention_days == 30
        assert raw_driver_row(workbench, driver_id)["erased_at"] is not None


class TestRetentionSetting:
    def test_default_is_two_years(self, workbench, tenant):
        assert get_retention_days(tenant.actor(Role.VIEWER)) == 730

    def test_admin_sets_retention_and_it_is_recorded(self, workbench, tenant):
        admin = admin_of(tenant)

        set_retention_days(admin, 365)

        assert get_retention_days(admin) == 365
        [changed] = entries(workbench, tenant.tenant_id, RETENTION_CHANGED)
        assert changed.details["retention_days"] == 365
        assert changed.details["previous_retention_days"] == 730

    @pytest.mark.parametrize("days", [0, -5, 3651, 30.5, True])
    def test_invalid_retention_is_rejected(self, workbench, tenant, days):
        with pytest.raises(InvalidInput, match="retention_days"):
            set_retention_days(admin_of(tenant), days)

    def test_dispatcher_cannot_set_retention(self, workbench, tenant):
        with pytest.raises(PermissionDenied, match="tenant:configure"):
            set_retention_days(tenant.actor(Role.DISPATCHER), 30)


def test_run_goes_through_every_tenant(
    private_workbench,
    make_private_tenant,
    driver_keys,  # noqa: F811
):
    with_driver = make_private_tenant()
    make_private_tenant()
    driver_id = deactivated_driver(private_workbench, with_driver)

    results = run_retention(DEACTIVATED_AT + RETENTION + timedelta(days=1))

    erased = {result.tenant_id: len(result.erased) for result in results}
    assert erased[with_driver.tenant_id] == 1
    assert sum(erased.values()) == 1
    assert raw_driver_row(private_workbench, driver_id)["erased_at"] is not None


def test_command_erases_expired_drivers(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'retention.db'}"
    with sqlite_database(tmp_path / "retention.db") as database:
        tenant = add_tenant(database.session_factory)
        with database.privileged_connection() as connection:
            connection.execute(
                text(
                    "INSERT INTO drivers (tenant_id, external_ref, home_depot,"
                    " qualifications, contract_kind, min_weekly_minutes,"
                    " max_weekly_minutes, is_active, legal_hold, created_at,"
                    " updated_at, deactivated_at, row_version) VALUES (:tenant,"
                    " 'D001', '', '[]', 'full_time', 2400, 3300, 0, 0,"
                    " '2020-01-01 00:00:00', '2020-01-01 00:00:00',"
                    " '2020-01-01 00:00:00', 1)"
                ),
                {"tenant": tenant.tenant_id},
            )

    completed = subprocess.run(
        [sys.executable, "-m", "core.retention", "--database-url", database_url],
        check=False,
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert (
        f"tenant {tenant.tenant_id}: 1 drivers erased, 0 kept on legal hold"
        in completed.stdout
    )
