"""Driver list export: columns by permission, the audit entry and the rate limit."""

from __future__ import annotations

import codecs
import csv
import io

import pytest

from core.driver_export import (
    DRIVER_LIST_EXPORTED,
    PERSONAL_COLUMNS,
    PLAIN_COLUMNS,
    export_drivers,
)
from core.errors import PermissionDenied
from core.gdpr import erase_driver
from core.permissions import Role
from core.rate_limits import TooManyAttempts
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    admin_of,
    driver_keys,  # noqa: F401 (fixture)
    entries,
)


@pytest.fixture
def tenant(workbench, make_tenant, driver_keys):  # noqa: F811
    tenant = make_tenant()
    add_driver(tenant, ANNA)
    add_driver(tenant, BEN, contract_kind="part_time", max_weekly_minutes=1800)
    return tenant


def read_csv(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_viewer_exports_plain_columns_only(workbench, tenant):
    filename, content = export_drivers(tenant.actor(Role.VIEWER))

    rows = read_csv(content)
    assert filename.startswith("drivers-") and filename.endswith(".csv")
    assert tuple(rows[0]) == PLAIN_COLUMNS
    assert [row["external_ref"] for row in rows] == ["D001", "D002"]
    assert rows[0]["skills"] == "ADR|KUEHL"
    assert rows[1]["max_weekly_hours"] == "30"
    assert b"Anna" not in content


def test_admin_exports_personal_fields(workbench, tenant):
    filename, content = export_drivers(admin_of(tenant), include_personal_fields=True)

    rows = read_csv(content)
    assert set(PERSONAL_COLUMNS) <= set(rows[0])
    assert filename.startswith("drivers-personal-")
    assert rows[0]["display_name"] == "Anna Schmidt"
    assert rows[0]["email"] == "anna.schmidt@example.com"
    assert rows[1]["phone"] == ""


def test_export_is_audited_with_fields_and_count(workbench, tenant):
    export_drivers(admin_of(tenant), include_personal_fields=True)

    [entry] = entries(workbench, tenant.tenant_id, DRIVER_LIST_EXPORTED)
    assert entry.details["driver_count"] == 2
    assert entry.details["personal_fields"] is True
    assert "display_name" in entry.details["fields"]
    assert entry.details["category"] == "export"
    assert "Anna" not in str(entry.details)


def test_dispatcher_cannot_export_personal_fields(workbench, tenant):
    with pytest.raises(PermissionDenied, match="export:pii"):
        export_drivers(tenant.actor(Role.DISPATCHER), include_personal_fields=True)

    assert entries(workbench, tenant.tenant_id, DRIVER_LIST_EXPORTED) == []


def test_sixth_export_within_the_hour_is_refused(workbench, tenant):
    admin = admin_of(tenant)
    for _ in range(5):
        export_drivers(admin, include_personal_fields=True)

    with pytest.raises(TooManyAttempts) as refused:
        export_drivers(admin)

    assert refused.value.retry_after_seconds > 0
    assert "at most 5 per hour" in str(refused.value)
    assert len(entries(workbench, tenant.tenant_id, DRIVER_LIST_EXPORTED)) == 5


def test_formula_in_a_cell_is_neutralised(workbench, tenant):
    add_driver(tenant, BEN, external_ref="D003", home_depot='=HYPERLINK("x","y")')

    _, content = export_drivers(tenant.actor(Role.VIEWER))

    rows = read_csv(content)
    assert rows[2]["home_depot"] == '\'=HYPERLINK("x","y")'


def test_erased_driver_is_not_exported(workbench, tenant):
    admin = admin_of(tenant)
    erase_driver(admin, add_driver(tenant, BEN, external_ref="D003"))

    _, content = export_drivers(admin, include_personal_fields=True)

    assert [row["external_ref"] for row in read_csv(content)] == ["D001", "D002"]
