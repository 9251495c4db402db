"""Driver master data through the services: roles, encryption, edits, consents."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.context import PERMISSION_DENIED
from core.driver_records import DriverFieldUnreadable
from core.drivers import (
    CONSENT_RECORDED,
    DRIVER_CREATED,
    DRIVER_DEACTIVATED,
    DRIVER_UPDATED,
    PERSONAL_DATA_READ,
    PERSONAL_DATA_UNREADABLE,
    DriverInput,
    create_driver,
    deactivate_driver,
    edit_driver,
    get_driver,
    list_drivers,
    record_consent,
)
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.permissions import Role
from core.tenancy import CROSS_TENANT_ACCESS
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    admin_of,
    driver_keys,  # noqa: F401 (fixture)
    entries,
    raw_driver_row,
)

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


class TestListDrivers:
    def test_viewer_sees_no_names(self, workbench, tenant):
        add_driver(tenant, ANNA)
        add_driver(tenant, BEN)

        views = list_drivers(tenant.actor(Role.VIEWER))

        assert [view.external_ref for view in views] == ["D001", "D002"]
        assert [view.display_name for view in views] == [None, None]
        assert views[0].home_depot == "Nord"
        assert views[0].qualifications == ("ADR", "KUEHL")
        assert entries(workbench, tenant.tenant_id, PERSONAL_DATA_READ) == []

    def test_dispatcher_sees_names_and_read_is_recorded(self, workbench, tenant):
        add_driver(tenant, ANNA)
        add_driver(tenant, BEN)
        dispatcher = tenant.actor(Role.DISPATCHER)

        views = list_drivers(dispatcher)

        assert [view.display_name for view in views] == ["Anna Schmidt", "Ben Öztürk"]
        [read] = entries(workbench, tenant.tenant_id, PERSONAL_DATA_READ)
        assert read.actor_user_id == dispatcher.user_id
        assert read.details["fields"] == ["name"]
        assert read.details["driver_count"] == 2
        assert read.details["category"] == "pii_read"
        assert "Anna" not in str(read.details)

    def test_filters_by_depot_qualification_and_text(self, workbench, tenant):
        add_driver(tenant, ANNA)
        add_driver(tenant, BEN)
        dispatcher = tenant.actor(Role.DISPATCHER)

        by_depot = list_drivers(dispatcher, home_depot="Süd")
        by_qualification = list_drivers(dispatcher, qualification="adr")
        by_name = list_drivers(dispatcher, text="öztürk")
        by_name_as_viewer = list_drivers(tenant.actor(Role.VIEWER), text="öztürk")

        assert [view.external_ref for view in by_depot] == ["D002"]
        assert [view.external_ref for view in by_qualification] == ["D001"]
        assert [view.external_ref for view in by_name] == ["D002"]
        assert by_name_as_viewer == []

    def test_active_only_leaves_out_deactivated(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        add_driver(tenant, BEN)
        deactivate_driver(admin_of(tenant), anna, get_row_version(tenant, anna))

        views = list_drivers(tenant.actor(Role.VIEWER), active_only=True)

        assert [view.external_ref for view in views] == ["D002"]


class TestGetDriver:
    def test_dispatcher_reads_every_personal_field(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        details = get_driver(tenant.actor(Role.DISPATCHER), driver_id)

        assert details.personal_fields_shown
        assert details.driver.display_name == "Anna Schmidt"
        assert details.phone == "+49 30 1234567"
        assert details.email == "anna.schmidt@example.com"
        assert details.address == "Hauptstraße 1\n10115 Berlin"
        assert details.licence_number == "B072RRE2I55"

    def test_read_records_pii_event_with_field_names(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        get_driver(tenant.actor(Role.DISPATCHER), driver_id)

        [read] = entries(workbench, tenant.tenant_id, PERSONAL_DATA_READ)
        assert read.object_type == "driver"
        assert read.object_id == str(driver_id)
        assert read.details["fields"] == [
            "name",
            "phone",
            "email",
            "address",
            "licence_number",
        ]
        assert read.details["severity"] == "INFO"

    def test_viewer_gets_no_personal_fields(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        details = get_driver(tenant.actor(Role.VIEWER), driver_id)

        assert not details.personal_fields_shown
        assert details.driver.display_name is None
        assert (details.phone, details.email, details.address) == (None, None, None)
        assert details.licence_number is None
        assert details.driver.qualifications == ("ADR", "KUEHL")
        assert entries(workbench, tenant.tenant_id, PERSONAL_DATA_READ) == []

    def test_missing_driver_is_not_found(self, workbench, tenant):
        with pytest.raises(NotFound, match="driver 999999999 not found"):
            get_driver(tenant.actor(Role.DISPATCHER), 999_999_999)

    def test_driver_of_another_tenant_is_not_found_and_recorded(
        self, workbench, tenant, make_tenant
    ):
        other_driver = add_driver(make_tenant(), ANNA)
        dispatcher = tenant.actor(Role.DISPATCHER)

        with pytest.raises(NotFound):
            get_driver(dispatcher, other_driver)

        [event] = entries(workbench, tenant.tenant_id, CROSS_TENANT_ACCESS)
        assert event.object_type == "driver"
        assert event.object_id == str(other_driver)


class TestEncryptionAtRest:
    def test_stored_columns_hold_ciphertexts(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        row = raw_driver_row(workbench, driver_id)

        for column in PERSONAL_COLUMNS:
            assert row[column].startswith("v1:test-key:"), column
        assert "Anna" not in row["display_name_ciphertext"]
        assert "example.com" not in row["email_ciphertext"]
        assert row["external_ref"] == "D001"

    def test_empty_personal_fields_are_stored_as_null(self, workbench, tenant):
        driver_id = add_driver(tenant, BEN)

        row = raw_driver_row(workbench, driver_id)

        assert row["display_name_ciphertext"] is not None
        assert row["phone_ciphertext"] is None
        assert row["licence_number_ciphertext"] is None

    def test_ciphertext_copied_to_another_driver_cannot_be_read(
        self, workbench, tenant
    ):
        anna = add_driver(tenant, ANNA)
        ben = add_driver(tenant, BEN)
        copy_column(workbench, "phone_ciphertext", source=anna, target=ben)
        dispatcher = tenant.actor(Role.DISPATCHER)

        with pytest.raises(DriverFieldUnreadable) as unreadable:
            get_driver(dispatcher, ben)

        assert unreadable.value.driver_id == ben
        assert unreadable.value.field_name == "phone"
        assert f"the phone of driver {ben} (D002)" in str(unreadable.value)
        assert "+49" not in str(unreadable.value)
        [event] = entries(workbench, tenant.tenant_id, PERSONAL_DATA_UNREADABLE)
        assert event.details["severity"] == "CRITICAL"
        assert event.details["driver_ids"] == [ben]
        assert event.details["fields"] == ["phone"]
        assert entries(workbench, tenant.tenant_id, PERSONAL_DATA_READ) == []

    def test_list_marks_name_copied_from_another_driver(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        ben = add_driver(tenant, BEN)
        copy_column(workbench, "display_name_ciphertext", source=anna, target=ben)

        views = list_drivers(tenant.actor(Role.DISPATCHER))

        by_ref = {view.external_ref: view for view in views}
        assert by_ref["D002"].display_name is None
        assert by_ref["D002"].unreadable_fields == ("name",)
        assert by_ref["D001"].display_name == "Anna Schmidt"
        [event] = entries(workbench, tenant.tenant_id, PERSONAL_DATA_UNREADABLE)
        assert event.details["driver_ids"] == [ben]


class TestCreateDriver:
    def test_admin_creates_driver_with_contract_defaults(self, workbench, tenant):
        view = create_driver(admin_of(tenant), ANNA)

        assert view.contract_kind == "full_time"
        assert (view.min_weekly_minutes, view.max_weekly_minutes) == (2400, 3300)
        assert view.is_active
        assert view.display_name is None
        [created] = entries(workbench, tenant.tenant_id, DRIVER_CREATED)
        assert created.object_id == str(view.driver_id)
        assert "display_name" in created.details["fields"]
        assert "Anna" not in str(created.details)

    def test_part_time_contract_defaults_below_forty_hours(self, workbench, tenant):
        part_time = DriverInput("D003", "Cem Demir", contract_kind="part_time")

        view = create_driver(admin_of(tenant), part_time)

        assert (view.min_weekly_minutes, view.max_weekly_minutes) == (0, 2400)

    @pytest.mark.parametrize("role", [Role.VIEWER, Role.DISPATCHER])
    def test_roles_below_admin_cannot_create(self, workbench, tenant, role):
        with pytest.raises(PermissionDenied, match="driver:write"):
            create_driver(tenant.actor(role), ANNA)

        assert entries(workbench, tenant.tenant_id, DRIVER_CREATED) == []
        assert len(entries(workbench, tenant.tenant_id, PERMISSION_DENIED)) == 1

    def test_admin_without_mfa_cannot_create(self, workbench, tenant):
        admin = tenant.actor(Role.TENANT_ADMIN, mfa_verified=False)

        with pytest.raises(PermissionDenied, match="multi-factor"):
            create_driver(admin, ANNA)

    def test_duplicate_external_ref_is_a_conflict(self, workbench, tenant):
        add_driver(tenant, ANNA)

        with pytest.raises(Conflict, match="D001"):
            add_driver(tenant, BEN, external_ref="D001")

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"display_name": "  "}, "display_name"),
            ({"email": "not-an-address"}, "email"),
            ({"phone": "call me"}, "phone"),
            ({"external_ref": "erased-123"}, "external_ref"),
            ({"qualifications": ("ADR", "kühl")}, "qualifications"),
            ({"max_weekly_minutes": 3400}, "max_weekly_minutes"),
            ({"max_weekly_minutes": 2000}, "max_weekly_minutes"),
            ({"display_name": "Anna\u202eSchmidt"}, "display_name"),
        ],
    )
    def test_invalid_field_is_rejected(self, workbench, tenant, changes, field):
        with pytest.raises(InvalidInput) as invalid:
            add_driver(tenant, ANNA, **changes)

        assert invalid.value.field == field


class TestEditDriver:
    def test_edit_changes_fields_and_audit_names_them(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)
        admin = admin_of(tenant)
        version = get_row_version(tenant, driver_id)

        edited = edit_driver(
            admin,
            driver_id,
            version,
            {
                "phone": "+49 40 555",
                "home_depot": "Ost",
                "display_name": "Anna Schmidt",
            },
        )

        assert edited.home_depot == "Ost"
        assert edited.row_version > version
        assert get_driver(admin, driver_id).phone == "+49 40 555"
        [updated] = entries(workbench, tenant.tenant_id, DRIVER_UPDATED)
        assert updated.details["fields"] == ["home_depot", "phone"]
        assert "555" not in str(updated.details)

    def test_stale_row_version_is_a_conflict(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)
        admin = admin_of(tenant)
        read_version = get_row_version(tenant, driver_id)
        edit_driver(admin, driver_id, read_version, {"home_depot": "Ost"})

        with pytest.raises(Conflict, match="changed since you read it"):
            edit_driver(admin, driver_id, read_version, {"home_depot": "West"})

        assert get_driver(admin, driver_id).driver.home_depot == "Ost"

    @pytest.mark.parametrize("field", ["tenant_id", "legal_hold", "erased_at"])
    def test_protected_field_cannot_be_edited(self, workbench, tenant, field):
        driver_id = add_driver(tenant, ANNA)

        with pytest.raises(InvalidInput, match=field):
            edit_driver(
                admin_of(tenant),
                driver_id,
                get_row_version(tenant, driver_id),
                {field: 1},
            )

    def test_changing_contract_kind_sets_its_defaults(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        edited = edit_driver(
            admin_of(tenant),
            driver_id,
            get_row_version(tenant, driver_id),
            {"contract_kind": "part_time"},
        )

        assert edited.contract_kind == "part_time"
        assert (edited.min_weekly_minutes, edited.max_weekly_minutes) == (0, 2400)

    def test_edit_without_change_writes_nothing(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)
        version = get_row_version(tenant, driver_id)

        view = edit_driver(admin_of(tenant), driver_id, version, {"home_depot": "Nord"})

        assert view.row_version == version
        assert entries(workbench, tenant.tenant_id, DRIVER_UPDATED) == []

    def test_re_entering_unreadable_name_repairs_it(self, workbench, tenant):
        anna = add_driver(tenant, ANNA)
        ben = add_driver(tenant, BEN)
        copy_column(workbench, "display_name_ciphertext", source=anna, target=ben)

        edit_driver(
            admin_of(tenant),
            ben,
            get_row_version(tenant, ben),
            {"display_name": "Ben Öztürk"},
        )

        details = get_driver(tenant.actor(Role.DISPATCHER), ben)
        assert details.driver.display_name == "Ben Öztürk"


class TestDeactivateDriver:
    def test_deactivation_starts_retention_clock(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        view = deactivate_driver(
            admin_of(tenant), driver_id, get_row_version(tenant, driver_id)
        )

        assert not view.is_active
        assert view.deactivated_at is not None
        [entry] = entries(workbench, tenant.tenant_id, DRIVER_DEACTIVATED)
        assert entry.details["fields"] == ["is_active"]

    def test_reactivation_clears_deactivation_time(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)
        admin = admin_of(tenant)
        deactivate_driver(admin, driver_id, get_row_version(tenant, driver_id))

        view = edit_driver(
            admin, driver_id, get_row_version(tenant, driver_id), {"is_active": True}
        )

        assert view.is_active
        assert view.deactivated_at is None


class TestRecordConsent:
    def test_consents_are_kept_as_history(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)
        admin = admin_of(tenant)

        record_consent(admin, driver_id, "sms_notifications", True, "2025-1")
        record_consent(admin, driver_id, "sms_notifications", False, "2025-2")

        consents = get_driver(tenant.actor(Role.VIEWER), driver_id).consents
        assert [(c.granted, c.text_version) for c in consents] == [
            (True, "2025-1"),
            (False, "2025-2"),
        ]
        recorded = entries(workbench, tenant.tenant_id, CONSENT_RECORDED)
        assert [entry.details["granted"] for entry in recorded] == [True, False]

    def test_invalid_purpose_is_rejected(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        with pytest.raises(InvalidInput, match="purpose"):
            record_consent(admin_of(tenant), driver_id, "SMS please", True, "1")

    def test_dispatcher_cannot_record_consent(self, workbench, tenant):
        driver_id = add_driver(tenant, ANNA)

        with pytest.raises(PermissionDenied):
            record_consent(
                tenant.actor(Role.DISPATCHER), driver_id, "sms_notifications", True, "1"
            )


def get_row_version(tenant, driver_id: int) -> int:
    return get_driver(tenant.actor(Role.VIEWER), driver_id).driver.row_version


def copy_column(workbench, column: str, *, source: int, target: int) -> None:
    """Copy one ciphertext from a driver's row onto another's, as an attacker could."""
    assert column in PERSONAL_COLUMNS
    with workbench.privileged_connection() as connection:
        connection.execute(
            text(
                f"UPDATE drivers SET {column} ="
                f" (SELECT {column} FROM drivers WHERE id = :source)"
                " WHERE id = :target"
            ),
            {"source": source, "target": target},
        )
