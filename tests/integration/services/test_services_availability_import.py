"""Availability exceptions imported from CSV: report, all or nothing, idempotence."""

from __future__ import annotations

import pytest

from core.availability import (
    AVAILABILITY_UPDATED,
    ExceptionInput,
    get_week_grid,
    save_driver_week,
)
from core.availability_import import (
    EXCEPTION_IMPORT_REJECTED,
    EXCEPTION_IMPORT_UNCHANGED,
    EXCEPTIONS_IMPORTED,
    import_exceptions,
)
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.forecast_report import LineStatus
from core.permissions import Role
from tests.integration.services.availability_helpers import (
    FRIDAY,
    MONDAY,
    SUNDAY,
    TUESDAY,
    WEEK,
    cell_of,
    deactivate,
    driver_week,
)
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    driver_keys,  # noqa: F401 (fixture)
    entries,
)

NOTE = "Kur in Bad Ischl"
GOOD_FILE = (
    "driver_external_ref,date,status,note,start,end\n"
    f"D001,2026-12-07,sick,{NOTE},,\n"
    "D001,08.12.2026,BLOCKED,,08:00,12:30\n"
    "D002,2026-12-11,Vacation,,,\n"
).encode("utf-8")


@pytest.fixture
def tenant(workbench, make_tenant, driver_keys):  # noqa: F811
    return make_tenant()


@pytest.fixture
def drivers(tenant):
    return add_driver(tenant, ANNA), add_driver(tenant, BEN)


def dispatcher_of(tenant):
    return tenant.actor(Role.DISPATCHER)


def grid_of(tenant):
    return get_week_grid(dispatcher_of(tenant), WEEK)


def failures(result):
    return [
        (line.line_number, line.field)
        for line in result.lines
        if line.status is LineStatus.FAILURE
    ]


def test_import_stores_exceptions(workbench, tenant, drivers):
    anna, ben = drivers

    result = import_exceptions(dispatcher_of(tenant), "week.csv", GOOD_FILE)

    grid = grid_of(tenant)
    assert result.ok
    assert result.applied
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    assert result.weeks == 2
    assert cell_of(grid, anna, MONDAY).status == "SICK"
    assert cell_of(grid, anna, MONDAY).note == NOTE
    assert cell_of(grid, anna, TUESDAY).status == "BLOCKED"
    assert cell_of(grid, anna, TUESDAY).window == "08:00-12:30"
    assert cell_of(grid, ben, FRIDAY).status == "VACATION"
    assert driver_week(grid, anna).row_version == 1
    assert driver_week(grid, ben).row_version == 1
    [imported] = entries(workbench, tenant.tenant_id, EXCEPTIONS_IMPORTED)
    assert imported.details["created"] == 3
    updates = entries(workbench, tenant.tenant_id, AVAILABILITY_UPDATED)
    assert len(updates) == 2
    assert all(NOTE not in str(entry.details) for entry in updates + [imported])
    assert all("D001" not in str(entry.details) for entry in updates + [imported])


def test_reimport_changes_nothing(workbench, tenant, drivers):
    anna, _ = drivers
    import_exceptions(dispatcher_of(tenant), "week.csv", GOOD_FILE)
    updates_before = entries(workbench, tenant.tenant_id, AVAILABILITY_UPDATED)

    again = import_exceptions(dispatcher_of(tenant), "week.csv", GOOD_FILE)

    assert again.ok
    assert not again.applied
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert again.weeks == 0
    assert driver_week(grid_of(tenant), anna).row_version == 1
    after = entries(workbench, tenant.tenant_id, AVAILABILITY_UPDATED)
    assert len(after) == len(updates_before)
    assert len(entries(workbench, tenant.tenant_id, EXCEPTION_IMPORT_UNCHANGED)) == 1


def test_upsert_replaces_existing_exception(workbench, tenant, drivers):
    anna, _ = drivers
    save_driver_week(
        dispatcher_of(tenant), anna, WEEK, 0, {MONDAY: ExceptionInput("VACATION")}
    )
    content = (
        b"driver_external_ref,date,status,start,end\n"
        b"D001,2026-12-07,BLOCKED,06:00,24:00\n"
    )

    result = import_exceptions(dispatcher_of(tenant), "fix.csv", content)

    grid = grid_of(tenant)
    assert (result.created, result.updated) == (0, 1)
    assert cell_of(grid, anna, MONDAY).status == "BLOCKED"
    assert cell_of(grid, anna, MONDAY).window == "06:00-24:00"
    assert driver_week(grid, anna).row_version == 2


def test_one_bad_line_stores_nothing(workbench, tenant, drivers):
    anna, ben = drivers
    save_driver_week(
        dispatcher_of(tenant), anna, WEEK, 0, {MONDAY: ExceptionInput("VACATION")}
    )
    content = (
        "driver_external_ref,date,status,note,start,end\n"
        "D001,2026-12-07,SICK,,,\n"
        "D002,2026-12-08,SICK,,,\n"
        "D002,2026-12-09,ILL,,,\n"
    ).encode()

    result = import_exceptions(dispatcher_of(tenant), "bad.csv", content)

    grid = grid_of(tenant)
    assert not result.ok
    assert not result.applied
    assert failures(result) == [(4, "status")]
    assert "ILL" in result.failures[0].message
    assert cell_of(grid, anna, MONDAY).status == "VACATION"
    assert cell_of(grid, ben, TUESDAY).status is None
    assert driver_week(grid, anna).row_version == 1
    assert driver_week(grid, ben).row_version == 0
    assert len(entries(workbench, tenant.tenant_id, EXCEPTION_IMPORT_REJECTED)) == 1
    assert "line 4 status" in result.format_text()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("D001,2026-13-07,SICK,,,", "date"),
        ("D001,7.12.26,SICK,,,", "date"),
        ("D001,2026-12-07,SICK,,12:00,08:00", "end"),
        ("D001,2026-12-07,SICK,,08:00,", "end"),
        ("D001,2026-12-07,SICK,,,08:00", "start"),
        ("D001,2026-12-07,SICK,,25:00,23:00", "start"),
        ("D001,2026-12-07,SICK,,08:00,24:01", "end"),
        (",2026-12-07,SICK,,,", "driver_external_ref"),
        ("D001,2026-12-07,SICK,,", ""),
    ],
    ids=[
        "month 13",
        "short year",
        "end before start",
        "end missing",
        "start missing",
        "hour 25",
        "after midnight",
        "no driver",
        "missing cell",
    ],
)
def test_invalid_line_names_field(workbench, tenant, drivers, line, field):
    content = f"driver_external_ref,date,status,note,start,end\n{line}\n".encode()

    result = import_exceptions(dispatcher_of(tenant), "bad.csv", content)

    assert failures(result) == [(2, field)]
    assert driver_week(grid_of(tenant), drivers[0]).row_version == 0


def test_unknown_and_inactive_drivers_fail(workbench, tenant, drivers):
    _, ben = drivers
    deactivate(tenant, ben)
    content = (
        "driver_external_ref,date,status\n"
        "D001,2026-12-07,SICK\n"
        "D404,2026-12-07,SICK\n"
        "D002,2026-12-07,SICK\n"
    ).encode()

    result = import_exceptions(dispatcher_of(tenant), "refs.csv", content)

    assert failures(result) == [(3, "driver_external_ref"), (4, "driver_external_ref")]
    assert "'D404' not found" in result.failures[0].message
    assert "'D002' is inactive" in result.failures[1].message
    assert cell_of(grid_of(tenant), drivers[0], MONDAY).status is None


def test_other_tenants_driver_is_unknown(workbench, tenant, make_tenant):
    other = make_tenant()
    add_driver(other, ANNA)
    content = b"driver_external_ref,date,status\nD001,2026-12-07,SICK\n"

    result = import_exceptions(dispatcher_of(tenant), "refs.csv", content)

    assert failures(result) == [(2, "driver_external_ref")]


def test_repeated_driver_and_date_fails(workbench, tenant, drivers):
    content = (
        "driver_external_ref,date,status\n"
        "D001,2026-12-07,SICK\n"
        "D001,07.12.2026,VACATION\n"
    ).encode()

    result = import_exceptions(dispatcher_of(tenant), "twice.csv", content)

    assert failures(result) == [(3, "date")]
    assert "line 2" in result.failures[0].message


def test_dates_in_vienna_time(workbench, tenant, drivers):
    anna, _ = drivers
    # 23:30 UTC on Sunday 6 December is 00:30 on Monday in Vienna (UTC+1),
    # and 23:30 in Vienna on Sunday 13 December stays on that Sunday.
    content = (
        "driver_external_ref;date;status;note\n"
        "D001;2026-12-06T23:30:00+00:00;SICK;\n"
        "D001;2026-12-13T23:30:00;BLOCKED;\n"
        "D001;2026-12-08T00:30:00+01:00;VACATION;\n"
    ).encode()

    result = import_exceptions(dispatcher_of(tenant), "times.csv", content)

    grid = grid_of(tenant)
    assert result.ok, result.format_text()
    assert cell_of(grid, anna, MONDAY).status == "SICK"
    assert cell_of(grid, anna, TUESDAY).status == "VACATION"
    assert cell_of(grid, anna, SUNDAY).status == "BLOCKED"


def test_import_bumps_version_of_open_grid(workbench, tenant, drivers):
    anna, _ = drivers
    read = driver_week(grid_of(tenant), anna).row_version

    import_exceptions(dispatcher_of(tenant), "week.csv", GOOD_FILE)

    with pytest.raises(Conflict):
        save_driver_week(
            dispatcher_of(tenant), anna, WEEK, read, {SUNDAY: ExceptionInput("SICK")}
        )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"driver_external_ref,date\n", "status"),
        (b"driver_external_ref,date,status,colour\n", "colour"),
        (b"driver_external_ref,date,status\n", "lists no exception"),
        (b"PK\x03\x04rest", "binary"),
    ],
    ids=["empty", "no status column", "unknown column", "no lines", "workbook"],
)
def test_bad_file_fails_on_first_line(workbench, tenant, content, fragment):
    result = import_exceptions(dispatcher_of(tenant), "bad.csv", content)

    assert [line.line_number for line in result.failures] == [1]
    assert fragment in result.failures[0].message


def test_content_must_be_bytes(workbench, tenant):
    with pytest.raises(InvalidInput) as error:
        import_exceptions(dispatcher_of(tenant), "week.csv", GOOD_FILE.decode())

    assert error.value.field == "content"


def test_viewer_may_not_import(workbench, tenant, drivers):
    with pytest.raises(PermissionDenied):
        import_exceptions(tenant.actor(Role.VIEWER), "week.csv", GOOD_FILE)

    assert driver_week(grid_of(tenant), drivers[0]).row_version == 0


def test_report_counts_file_lines(workbench, tenant, drivers):
    content = b"driver_external_ref,day,colour\nD001,2026-12-07,SICK\n"

    result = import_exceptions(dispatcher_of(tenant), "bad.csv", content)

    assert len(result.lines) > result.line_count
    assert result.line_count == 2
    assert result.failed_line_count == 1
    assert result.format_text().startswith(
        "availability import of bad.csv: 2 lines, 1 failed;"
    )
