"""Comparison exports through the service: CSV zip, workbook, PNG charts, HTML."""

from __future__ import annotations

import csv
import io
import os
import zipfile

import pytest
from openpyxl import load_workbook

from core.comparison import ResultRef, compare, format_value
from core.comparison_export import (
    COMPARISON_EXPORTED,
    ChartRenderingUnavailable,
    browser_path,
    export_comparison,
)
from core.errors import InvalidInput
from core.permissions import Role
from solver.rules import RuleSettings
from solver.solve import plan_forecast
from tests.integration.services.driver_helpers import (
    ANNA,
    BEN,
    add_driver,
    driver_keys,  # noqa: F401 (a fixture)
    entries,
)
from tests.integration.services.helpers import add_draft, import_week
from tests.integration.services.test_comparison import (
    SMALLER_FORECAST,
    store_named_plan,
)

CSV_MEMBERS = {
    "results.csv",
    "kpis.csv",
    "driver_diffs.csv",
    "hours_distribution.csv",
    "head_count.csv",
    "coverage.csv",
}
FORMULA_REF = "=1+2"


@pytest.fixture(scope="module")
def smaller_result():
    return plan_forecast(SMALLER_FORECAST, RuleSettings(), time_limit_seconds=30)


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def refs(workbench, tenant, driver_keys, small_solve_result, smaller_result):  # noqa: F811
    """A plan of named drivers, one of them with a formula as reference, then
    an anonymous plan of a smaller week."""
    anna = add_driver(tenant, ANNA, external_ref=FORMULA_REF)
    ben = add_driver(tenant, BEN, qualifications=("ADR",))
    dispatcher = tenant.actor(Role.DISPATCHER)
    first = import_week(dispatcher)
    named = store_named_plan(
        workbench,
        tenant.tenant_id,
        first.forecast_version_id,
        small_solve_result,
        [anna, ben],
    )
    second = import_week(dispatcher, SMALLER_FORECAST, filename="less.csv")
    smaller = add_draft(
        workbench, tenant.tenant_id, second.forecast_version_id, smaller_result
    )
    return [ResultRef("plan", named.id), ResultRef("plan", smaller.id)]


def csv_rows(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    text = archive.read(name).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_export_has_every_table(tenant, refs):
    filename, content = export_comparison(tenant.actor(Role.VIEWER), refs, "csv")

    assert filename == f"comparison-plan-{refs[0].id}-plan-{refs[1].id}-tables.zip"
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert set(archive.namelist()) == CSV_MEMBERS
    kpis = csv_rows(archive, "kpis.csv")
    assert kpis[0][:2] == ["kpi", "unit"]
    assert len(kpis[0]) == 2 + 2 + 1
    drivers = next(row for row in kpis if row[0] == "Drivers")
    comparison = compare(tenant.actor(Role.VIEWER), refs)
    expected = comparison.kpi_rows[0]
    assert drivers[2:4] == [str(value) for value in expected.values]
    # A difference is a number, so it carries no apostrophe even when negative.
    assert drivers[4] == str(expected.deltas[1])


def test_csv_export_neutralises_formulas(tenant, refs):
    _, content = export_comparison(tenant.actor(Role.VIEWER), refs, "csv")

    archive = zipfile.ZipFile(io.BytesIO(content))
    drivers = {row[1] for row in csv_rows(archive, "driver_diffs.csv")[1:]}
    assert f"'{FORMULA_REF}" in drivers
    assert FORMULA_REF not in drivers


def test_csv_export_names_no_driver(tenant, refs):
    admin = tenant.actor(Role.TENANT_ADMIN)

    _, content = export_comparison(admin, refs, "csv")

    archive = zipfile.ZipFile(io.BytesIO(content))
    text = b"".join(archive.read(name) for name in archive.namelist())
    assert b"Anna" not in text
    assert b"D002" in text


def test_xlsx_export_opens_in_openpyxl(tenant, refs):
    filename, content = export_comparison(tenant.actor(Role.VIEWER), refs, "xlsx")

    assert filename.endswith(".xlsx")
    workbook = load_workbook(io.BytesIO(content))
    assert set(workbook.sheetnames) == {name[:-4] for name in CSV_MEMBERS}
    kpis = list(workbook["kpis"].iter_rows(values_only=True))
    drivers = next(row for row in kpis if row[0] == "Drivers")
    assert isinstance(drivers[2], int)
    diffs = list(workbook["driver_diffs"].iter_rows(values_only=True))
    assert f"'{FORMULA_REF}" in {row[1] for row in diffs[1:]}


def test_html_export_contains_kpis(tenant, refs):
    viewer = tenant.actor(Role.VIEWER)

    filename, content = export_comparison(viewer, refs, "html")

    page = content.decode("utf-8")
    comparison = compare(viewer, refs)
    assert filename.endswith(".html")
    assert page.startswith("<!DOCTYPE html>")
    for label in comparison.columns:
        assert label in page
    for row in comparison.kpi_rows:
        assert row.label in page
        for value in row.values:
            assert format_value(value, row.unit) in page
    assert "<script src=" not in page
    assert "Plotly.newPlot" in page
    assert page.count("plotly.js v") >= 1


def test_export_appends_audit_entry(workbench, tenant, refs):
    export_comparison(tenant.actor(Role.VIEWER), refs, "csv")

    exported = entries(workbench, tenant.tenant_id, COMPARISON_EXPORTED)
    assert len(exported) == 1
    assert exported[0].details["format"] == "csv"
    assert exported[0].details["results"] == [ref.key for ref in refs]


def test_unknown_format_rejected(tenant, refs):
    with pytest.raises(InvalidInput) as raised:
        export_comparison(tenant.actor(Role.VIEWER), refs, "pdf")

    assert raised.value.field == "file_format"


def test_png_export_without_browser_fails_clearly(tenant, refs, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")

    with pytest.raises(ChartRenderingUnavailable) as raised:
        export_comparison(tenant.actor(Role.VIEWER), refs, "png")

    assert "/nonexistent/chromium" in str(raised.value)
    assert "HTML report" in str(raised.value)


# In CI the test runs without Chromium too, and fails.
@pytest.mark.skipif(
    browser_path() is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed",
)
def test_png_export_draws_each_chart(tenant, refs):
    filename, content = export_comparison(tenant.actor(Role.VIEWER), refs, "png")

    assert filename.endswith("-charts.zip")
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert set(archive.namelist()) == {
        "hours_distribution.png",
        "head_count.png",
        "coverage_1.png",
        "coverage_2.png",
    }
    for name in archive.namelist():
        assert archive.read(name).startswith(b"\x89PNG\r\n\x1a\n"), name
