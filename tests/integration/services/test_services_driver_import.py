"""Driver CSV import: the line report, all or nothing, idempotence and audit."""

from __future__ import annotations

import codecs

import pytest

from core.driver_import import (
    DRIVER_CREATED,
    DRIVER_IMPORT_REJECTED,
    DRIVER_IMPORT_UNCHANGED,
    DRIVER_UPDATED,
    DRIVERS_IMPORTED,
    MAX_IMPORT_BYTES,
    MAX_IMPORT_LINES,
    import_drivers,
)
from core.drivers import get_driver, list_drivers
from core.errors import InvalidInput, PermissionDenied
from core.forecast_report import LineStatus
from core.permissions import Role
from tests.integration.services.driver_helpers import (
    admin_of,
    driver_keys,  # noqa: F401 (fixture)
    entries,
)

HEADER = "external_ref,display_name,home_depot,max_weekly_hours,is_active,skills\n"
GOOD_FILE = (
    HEADER
    + "D001,Anna Schmidt,Nord,55,true,ADR|KUEHL\n"
    + "D002,Ben Öztürk,Süd,30,yes,\n"
    + "D003,Cem Demir,Nord,,,SCHWER\n"
)


@pytest.fixture
def tenant(workbench, make_tenant, driver_keys):  # noqa: F811
    return make_tenant()


@pytest.fixture
def admin(tenant):
    return admin_of(tenant)


def refs(tenant) -> list[str]:
    return [view.external_ref for view in list_drivers(tenant.actor(Role.VIEWER))]


def failure_lines(report) -> list[int]:
    return [line.line_number for line in report.failures]


class TestImportApplies:
    def test_good_file_creates_every_driver(self, workbench, tenant, admin):
        report = import_drivers(admin, GOOD_FILE.encode())

        assert report.ok
        assert report.applied
        assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
        assert refs(tenant) == ["D001", "D002", "D003"]
        assert [line.status for line in report.lines] == [LineStatus.PASS] * 4
        assert report.lines[1].reason == "line 2: creates driver 'D001'"

    def test_values_are_stored_as_the_file_says(self, workbench, tenant, admin):
        import_drivers(admin, GOOD_FILE.encode())

        views = {view.external_ref: view for view in list_drivers(admin)}

        assert views["D001"].display_name == "Anna Schmidt"
        assert views["D001"].qualifications == ("ADR", "KUEHL")
        assert views["D002"].contract_kind == "part_time"
        assert views["D002"].max_weekly_minutes == 1800
        assert views["D002"].min_weekly_minutes == 0
        assert views["D003"].max_weekly_minutes == 3300
        assert views["D003"].is_active

    def test_import_is_audited_per_driver_and_file(self, workbench, tenant, admin):
        import_drivers(admin, GOOD_FILE.encode())

        created = entries(workbench, tenant.tenant_id, DRIVER_CREATED)
        [summary] = entries(workbench, tenant.tenant_id, DRIVERS_IMPORTED)
        assert len(created) == 3
        assert all(entry.details["source"] == "import" for entry in created)
        assert "Anna" not in str([entry.details for entry in created])
        assert summary.details["created"] == 3
        assert summary.details["lines"] == 4


class TestReImport:
    def test_same_file_again_changes_nothing(self, workbench, tenant, admin):
        import_drivers(admin, GOOD_FILE.encode())
        versions_before = [view.row_version for view in list_drivers(admin)]
        count_before = len(entries(workbench, tenant.tenant_id))

        report = import_drivers(admin, GOOD_FILE.encode())

        new_entries = entries(workbench, tenant.tenant_id)[count_before:]
        assert not report.applied
        assert report.unchanged == 3
        assert [entry.action for entry in new_entries] == [DRIVER_IMPORT_UNCHANGED]
        assert [view.row_version for view in list_drivers(admin)] == versions_before
        assert report.lines[1].reason == "line 2: driver 'D001' is unchanged"

    def test_changed_line_updates_driver_and_audit_names_fields(
        self, workbench, tenant, admin
    ):
        import_drivers(admin, GOOD_FILE.encode())
        changed_file = GOOD_FILE.replace(
            "D002,Ben Öztürk,Süd,30,yes,", "D002,Ben Öztürk,Ost,30,no,ADR"
        )

        report = import_drivers(admin, changed_file.encode())

        assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
        [updated] = entries(workbench, tenant.tenant_id, DRIVER_UPDATED)
        assert updated.details["fields"] == [
            "home_depot",
            "is_active",
            "qualifications",
        ]
        assert "Ost" not in str(updated.details)
        assert report.lines[2].reason == (
            "line 3: updates driver 'D002': home_depot, is_active, skills"
        )
        ben = next(view for view in list_drivers(admin) if view.external_ref == "D002")
        assert not ben.is_active
        assert ben.deactivated_at is not None

    def test_absent_column_keeps_stored_values(self, workbench, tenant, admin):
        import_drivers(admin, GOOD_FILE.encode())
        names_only = "external_ref,display_name\nD001,Anna Schmidt\n"

        report = import_drivers(admin, names_only.encode())

        anna = next(view for view in list_drivers(admin) if view.external_ref == "D001")
        assert report.unchanged == 1
        assert anna.qualifications == ("ADR", "KUEHL")

    def test_lower_hours_make_contract_part_time(self, workbench, tenant, admin):
        import_drivers(admin, GOOD_FILE.encode())

        import_drivers(
            admin, GOOD_FILE.replace("Nord,55,true", "Nord,37.5,true").encode()
        )

        anna = next(view for view in list_drivers(admin) if view.external_ref == "D001")
        assert anna.contract_kind == "part_time"
        assert (anna.min_weekly_minutes, anna.max_weekly_minutes) == (0, 2250)
        [updated] = entries(workbench, tenant.tenant_id, DRIVER_UPDATED)
        assert updated.details["fields"] == [
            "contract_kind",
            "max_weekly_minutes",
            "min_weekly_minutes",
        ]


class TestImportRejects:
    @pytest.mark.parametrize(
        ("bad_line", "reason"),
        [
            (",Nobody,Nord,40,true,", "column external_ref is empty"),
            ("D009,,Nord,40,true,", "column display_name is empty"),
            ("D009,Dora,Nord,lots,true,", "'lots' is not a number of hours"),
            ("D009,Dora,Nord,60,true,", "outside the range"),
            ("D009,Dora,Nord,37.33,true,", "not a whole number of minutes"),
            ("D009,Dora,Nord,40,maybe,", "'maybe' is not true or false"),
            ("D009,Dora,Nord,40,true,ADR|kühl", "is not a qualification code"),
            ("D009,Dora,Nord,40,true", "has 5 cells but the header names 6"),
            ("erased-1,Dora,Nord,40,true,", "marks erased drivers"),
            ("D001,Anna again,Nord,40,true,", "repeats line 2"),
            ('D009,"Dora,Nord,40,true,', "cannot be read as CSV"),
        ],
    )
    def test_each_failure_names_its_line_and_nothing_applies(
        self, workbench, tenant, admin, bad_line, reason
    ):
        content = GOOD_FILE + bad_line + "\n"

        report = import_drivers(admin, content.encode())

        assert not report.applied
        assert failure_lines(report) == [5]
        assert report.failures[0].reason.startswith("line 5: ")
        assert reason in report.failures[0].reason
        assert refs(tenant) == []
        [rejected] = entries(workbench, tenant.tenant_id, DRIVER_IMPORT_REJECTED)
        assert rejected.details["failures"] == 1
        assert entries(workbench, tenant.tenant_id, DRIVER_CREATED) == []

    def test_rejected_file_leaves_existing_drivers_unchanged(
        self, workbench, tenant, admin
    ):
        import_drivers(admin, GOOD_FILE.encode())
        content = GOOD_FILE.replace("Nord,55", "West,55") + "D009,,Nord,40,true,\n"

        import_drivers(admin, content.encode())

        anna = next(view for view in list_drivers(admin) if view.external_ref == "D001")
        assert anna.home_depot == "Nord"
        assert entries(workbench, tenant.tenant_id, DRIVER_UPDATED) == []

    def test_unknown_column_fails_the_header(self, workbench, tenant, admin):
        content = "external_ref,display_name,salary\nD001,Anna,1\n"

        report = import_drivers(admin, content.encode())

        assert failure_lines(report) == [1]
        assert "unknown columns 'salary'" in report.failures[0].reason

    def test_missing_required_column_fails_the_header(self, workbench, tenant, admin):
        report = import_drivers(admin, b"external_ref,home_depot\nD001,Nord\n")

        assert failure_lines(report) == [1]
        assert "lacks the required columns display_name" in report.failures[0].reason

    def test_header_without_drivers_fails(self, workbench, tenant, admin):
        report = import_drivers(admin, HEADER.encode())

        assert failure_lines(report) == [1]
        assert "lists no driver" in report.failures[0].reason

    def test_workbook_is_rejected_as_wrong_type(self, workbench, tenant, admin):
        report = import_drivers(admin, b"PK\x03\x04" + b"\x00" * 100)

        assert failure_lines(report) == [1]
        assert "not CSV text" in report.failures[0].reason

    def test_control_characters_are_masked_in_report(self, workbench, tenant, admin):
        content = GOOD_FILE + "D009,Dora\x07,Nord,40,true,\n"

        report = import_drivers(admin, content.encode())

        assert report.lines[4].raw == "D009,Dora?,Nord,40,true,"
        assert "control characters" in report.failures[0].reason

    def test_unknown_qualification_is_a_warning(self, workbench, tenant, admin):
        content = HEADER + "D001,Anna Schmidt,Nord,40,true,ADR|FORKLIFT\n"

        report = import_drivers(admin, content.encode())

        assert report.applied
        assert report.lines[1].status is LineStatus.WARNING
        assert "FORKLIFT" in report.lines[1].reason
        assert list_drivers(admin)[0].qualifications == ("ADR", "FORKLIFT")


class TestImportLimits:
    def test_file_over_byte_limit_is_refused(self, workbench, tenant, admin):
        content = HEADER.encode() + b"x" * MAX_IMPORT_BYTES

        with pytest.raises(InvalidInput, match="more than the limit"):
            import_drivers(admin, content)

    def test_file_over_line_limit_is_refused(self, workbench, tenant, admin):
        content = HEADER + "\n" * MAX_IMPORT_LINES

        with pytest.raises(
            InvalidInput, match=f"more than the limit of {MAX_IMPORT_LINES}"
        ):
            import_drivers(admin, content.encode())

    def test_dispatcher_cannot_import(self, workbench, tenant):
        with pytest.raises(PermissionDenied):
            import_drivers(tenant.actor(Role.DISPATCHER), GOOD_FILE.encode())


class TestImportEncodings:
    @pytest.mark.parametrize(
        "content",
        [
            GOOD_FILE.encode("utf-8"),
            codecs.BOM_UTF8 + GOOD_FILE.encode("utf-8"),
            GOOD_FILE.encode("cp1252"),
            GOOD_FILE.replace(",", ";").replace("\n", "\r\n").encode("cp1252"),
        ],
        ids=["utf-8", "utf-8-bom", "windows-1252", "semicolons-crlf"],
    )
    def test_encodings_give_the_same_drivers(self, workbench, tenant, admin, content):
        report = import_drivers(admin, content)

        assert report.ok, report.format_text()
        ben = get_driver(admin, _driver_id(admin, "D002"))
        assert ben.driver.display_name == "Ben Öztürk"
        assert ben.driver.home_depot == "Süd"

    def test_decimal_comma_with_semicolons(self, workbench, tenant, admin):
        content = "external_ref;display_name;max_weekly_hours\nD001;Anna;37,5\n"

        import_drivers(admin, content.encode())

        assert list_drivers(admin)[0].max_weekly_minutes == 2250


def _driver_id(actor, external_ref: str) -> int:
    views = list_drivers(actor, text=external_ref)
    return next(view.driver_id for view in views if view.external_ref == external_ref)
