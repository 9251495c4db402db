"""Data protection requests: a driver's data export, erasure and legal hold."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.audit_log import verify_tenant_audit_chain
from core.availability import ExceptionInput, save_driver_week, set_weekly_pattern
from core.drivers import (
    DriverInput,
    create_driver,
    edit_driver,
    get_driver,
    list_drivers,
    record_consent,
)
from core.errors import Conflict, PermissionDenied
from core.gdpr import (
    DRIVER_DATA_EXPORTED,
    DRIVER_ERASED,
    ERASURE_REJECTED,
    LEGAL_HOLD_PLACED,
    ErasureRejected,
    erase_driver,
    export_driver_data,
    set_legal_hold,
)
from core.permissions import Role
from db.models import DriverAvailabilityException, DriverWeeklyPattern
from tests.integration.databases import WEEK_ANCHOR
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    admin_of,
    driver_keys,  # noqa: F401 (fixture)
    entries,
    raw_driver_row,
)
from tests.integration.services.helpers import add_draft, import_week

PERSONAL_COLUMNS = (
    "display_name_ciphertext",
    "phone_ciphertext",
    "email_ciphertext",
    "address_ciphertext",
    "licence_number_ciphertext",
)


@pytest.fixture
def tenant(workbench, make_tenant, driver_keys):  # noqa: F811
    return make_tenant()


@pytest.fixture
def admin(tenant):
    return admin_of(tenant)


class TestExportDriverData:
    def test_export_holds_every_personal_field_and_consent(self, workbench, admin):
        driver_id = create_driver(admin, ANNA).driver_id
        record_consent(admin, driver_id, "sms_notifications", True, "2025-1")

        filename, content = export_driver_data(admin, driver_id)

        document = json.loads(content)
        driver = document["driver"]
        assert filename == f"driver-{driver_id}-data.json"
        assert document["format"] == "solvereign-driver-data/1"
        assert driver["display_name"] == "Anna Schmidt"
        assert driver["phone"] == "+49 30 1234567"
        assert driver["email"] == "anna.schmidt@example.com"
        assert driver["address"] == "Hauptstraße 1\n10115 Berlin"
        assert driver["licence_number"] == "B072RRE2I55"
        assert driver["qualifications"] == ["ADR", "KUEHL"]
        assert document["consents"] == [
            {
                "purpose": "sms_notifications",
                "granted": True,
                "text_version": "2025-1",
                "recorded_at": document["consents"][0]["recorded_at"],
            }
        ]

    def test_export_holds_only_this_driver(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)
        add_driver(tenant, BEN)

        _, content = export_driver_data(admin, driver_id)

        assert "Öztürk".encode() not in content
        assert b"D002" not in content

    def test_export_lists_plan_assignments_of_the_driver(
        self, workbench, tenant, admin, small_solve_result
    ):
        driver_id = add_driver(tenant, ANNA)
        forecast = import_week(tenant.actor(Role.DISPATCHER))
        add_draft(
            workbench,
            tenant.tenant_id,
            forecast.forecast_version_id,
            small_solve_result,
        )
        expected = [
            tour.tour_id
            for roster in small_solve_result.plan.rosters
            if roster.driver == "D001"
            for block in roster.blocks
            for tour in block.tours
        ]

        _, content = export_driver_data(admin, driver_id)

        assignments = json.loads(content)["plan_assignments"]
        assert expected
        assert sorted(row["tour_id"] for row in assignments) == sorted(expected)
        assert {row["plan_status"] for row in assignments} == {"draft"}

    def test_export_is_recorded_as_gdpr_request(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)

        export_driver_data(admin, driver_id)

        [entry] = entries(workbench, tenant.tenant_id, DRIVER_DATA_EXPORTED)
        assert entry.object_id == str(driver_id)
        assert entry.details["category"] == "gdpr_request"
        assert entry.details["fields"] == [
            "name",
            "phone",
            "email",
            "address",
            "licence_number",
        ]

    def test_dispatcher_cannot_export_driver_data(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        with pytest.raises(PermissionDenied, match="export:pii"):
            export_driver_data(tenant.actor(Role.DISPATCHER), driver_id)


class TestEraseDriver:
    def test_erasure_removes_personal_fields(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)

        result = erase_driver(admin, driver_id)

        row = raw_driver_row(workbench, driver_id)
        assert not result.already_erased
        assert all(row[column] is None for column in PERSONAL_COLUMNS)
        assert row["external_ref"] == result.pseudonym
        assert result.pseudonym.startswith("erased-")
        assert "D001" not in result.pseudonym
        assert row["erased_at"] is not None
        assert not row["is_active"]

    def test_erasure_deletes_availability(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)
        dispatcher = tenant.actor(Role.DISPATCHER)
        save_driver_week(
            dispatcher,
            driver_id,
            WEEK_ANCHOR,
            0,
            {WEEK_ANCHOR: ExceptionInput(status="SICK", note="flu")},
        )
        set_weekly_pattern(dispatcher, driver_id, {1: (6 * 60, 18 * 60)})

        erase_driver(admin, driver_id)

        with workbench.session_factory() as session:
            for model in (DriverAvailabilityException, DriverWeeklyPattern):
                rows = session.scalars(
                    select(model).where(model.driver_id == driver_id)
                ).all()
                assert rows == [], model.__name__
        entry = entries(workbench, tenant.tenant_id, "gdpr.driver_erased")[-1]
        assert entry.details["availability_rows"] == 3

    def test_erasure_entry_is_pseudonymous(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)

        result = erase_driver(admin, driver_id)

        [entry] = entries(workbench, tenant.tenant_id, DRIVER_ERASED)
        assert entry.object_id == str(driver_id)
        assert entry.details["pseudonym"] == result.pseudonym
        assert entry.details["reason"] == "request"
        assert entry.details["fields"] == [
            "name",
            "phone",
            "email",
            "address",
            "licence_number",
        ]
        all_details = str(
            [entry.details for entry in entries(workbench, tenant.tenant_id)]
        )
        assert "Anna" not in all_details
        assert "D001" not in all_details

    def test_audit_chain_verifies_after_erasure(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)
        record_consent(admin, driver_id, "sms_notifications", True, "1")

        erase_driver(admin, driver_id)

        assert verify_tenant_audit_chain(admin).ok

    def test_second_erasure_is_a_no_op(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)
        first = erase_driver(admin, driver_id)
        count_before = len(entries(workbench, tenant.tenant_id))

        second = erase_driver(admin, driver_id)

        assert second.already_erased
        assert second.message == f"driver {driver_id} was already erased"
        assert second.pseudonym == first.pseudonym
        assert len(entries(workbench, tenant.tenant_id)) == count_before

    def test_erased_driver_is_listed_no_more_and_cannot_be_edited(
        self, workbench, tenant, admin
    ):
        driver_id = add_driver(tenant, ANNA)
        erase_driver(admin, driver_id)
        details = get_driver(admin, driver_id)

        with pytest.raises(Conflict, match="erased"):
            edit_driver(
                admin, driver_id, details.driver.row_version, {"home_depot": "X"}
            )

        assert list_drivers(admin) == []
        assert details.driver.display_name is None
        assert details.phone is None

    def test_old_external_ref_is_free_after_erasure(self, workbench, tenant, admin):
        erase_driver(admin, add_driver(tenant, ANNA))

        new_driver = create_driver(admin, DriverInput("D001", "Someone Else"))

        assert new_driver.external_ref == "D001"

    def test_dispatcher_cannot_erase(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        with pytest.raises(PermissionDenied, match="driver:write"):
            erase_driver(tenant.actor(Role.DISPATCHER), driver_id)


class TestLegalHold:
    def test_legal_hold_rejects_erasure_and_is_recorded(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)
        set_legal_hold(admin, driver_id, True)

        with pytest.raises(ErasureRejected, match="legal hold"):
            erase_driver(admin, driver_id)

        row = raw_driver_row(workbench, driver_id)
        assert row["display_name_ciphertext"] is not None
        assert row["erased_at"] is None
        [rejected] = entries(workbench, tenant.tenant_id, ERASURE_REJECTED)
        assert rejected.object_id == str(driver_id)
        assert rejected.details["severity"] == "WARNING"
        assert len(entries(workbench, tenant.tenant_id, LEGAL_HOLD_PLACED)) == 1

    def test_lifted_hold_allows_erasure(self, workbench, tenant, admin):
        driver_id = add_driver(tenant, ANNA)
        set_legal_hold(admin, driver_id, True)
        set_legal_hold(admin, driver_id, False)

        result = erase_driver(admin, driver_id)

        assert not result.already_erased
