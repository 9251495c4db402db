"""Plan exports through the service: the zip of plan files and the workbook."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from openpyxl import load_workbook

from core.errors import InvalidInput
from core.exports import PLAN_EXPORTED, export_plan, neutralise_cell
from core.permissions import Role
from db.repositories import audit_log
from solver.export import FORMULA_PREFIXES
from solver.rules import RuleSettings
from solver.solve import plan_forecast
from solver.tours import Forecast, TourTemplate
from tests.integration.databases import SMALL_FORECAST
from tests.integration.services.helpers import add_draft, import_week

PLAN_FILES = [
    "assignments.csv",
    "rosters.csv",
    "matrix.csv",
    "kpis.json",
    "checks.json",
]
FORMULA_DEPOT = '=HYPERLINK("http://example.invalid","open")'
FORMULA_FORECAST = Forecast.from_templates(
    [
        TourTemplate(
            day=1, start_minute=6 * 60, end_minute=10 * 60 + 30, count=2, depot="Nord"
        ),
        TourTemplate(
            day=2,
            start_minute=6 * 60,
            end_minute=10 * 60 + 30,
            count=1,
            depot=FORMULA_DEPOT,
        ),
        TourTemplate(
            day=3, start_minute=7 * 60, end_minute=11 * 60 + 30, count=1, depot="-1+2"
        ),
    ]
)


@pytest.fixture(scope="module")
def formula_solve_result():
    return plan_forecast(FORMULA_FORECAST, RuleSettings(), time_limit_seconds=30)


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def viewer(tenant):
    return tenant.actor(Role.VIEWER)


@pytest.fixture
def small_draft(workbench, tenant, small_solve_result):
    forecast_version = import_week(tenant.actor(Role.DISPATCHER))
    return add_draft(
        workbench,
        tenant.tenant_id,
        forecast_version.forecast_version_id,
        small_solve_result,
    )


@pytest.fixture
def formula_draft(workbench, tenant, formula_solve_result):
    forecast_version = import_week(tenant.actor(Role.DISPATCHER), FORMULA_FORECAST)
    return add_draft(
        workbench,
        tenant.tenant_id,
        forecast_version.forecast_version_id,
        formula_solve_result,
    )


def csv_cells(archive: zipfile.ZipFile) -> list[str]:
    cells = []
    for name in archive.namelist():
        if name.endswith(".csv"):
            text = archive.read(name).decode("utf-8")
            cells += [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    return cells


class TestCsvExport:
    def test_zip_holds_the_five_plan_files(
        self, workbench, tenant, viewer, small_draft
    ):
        filename, content = export_plan(viewer, small_draft.id, "csv")
        archive = zipfile.ZipFile(io.BytesIO(content))
        assignments = list(
            csv.reader(io.StringIO(archive.read("assignments.csv").decode("utf-8")))
        )
        kpis = json.loads(archive.read("kpis.json"))
        checks = json.loads(archive.read("checks.json"))
        with workbench.session_factory() as session:
            exported = audit_log.list_entries(
                session, tenant.tenant_id, action=PLAN_EXPORTED
            )

        assert filename == "plan-2025-12-01-v1.zip"
        assert archive.namelist() == PLAN_FILES
        assert assignments[0] == ["tour_id", "weekday", "start", "end", "driver"]
        assert len(assignments) == 1 + SMALL_FORECAST.tour_count
        assert all(row[4] for row in assignments[1:])
        assert kpis["drivers"] == 2
        assert kpis["plan_version_id"] == small_draft.id
        assert kpis["status"] == "optimal"
        assert kpis["uncoverable"] == []
        assert all(check["passed"] for check in checks)
        assert len(exported) == 1
        assert exported[0].details == {"format": "csv", "bytes": len(content)}

    def test_depot_formula_comes_out_as_text(self, workbench, viewer, formula_draft):
        _, content = export_plan(viewer, formula_draft.id, "csv")
        archive = zipfile.ZipFile(io.BytesIO(content))
        cells = csv_cells(archive)

        # Depot names reach the files only inside tour ids, after the weekday.
        with_depot = [cell for cell in cells if FORMULA_DEPOT in cell]
        assert with_depot
        assert all(cell.startswith(("Di-", "'")) for cell in with_depot)
        assert not [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)]

    def test_unknown_format_is_rejected(self, workbench, viewer, small_draft):
        with pytest.raises(InvalidInput, match="unknown export format 'pdf'"):
            export_plan(viewer, small_draft.id, "pdf")


class TestWorkbookExport:
    def test_workbook_has_a_sheet_per_file(self, workbench, viewer, small_draft):
        filename, content = export_plan(viewer, small_draft.id, "xlsx")
        workbook = load_workbook(io.BytesIO(content))
        assignments = list(workbook["assignments"].iter_rows(values_only=True))
        kpis = dict(workbook["kpis"].iter_rows(min_row=2, values_only=True))

        assert filename == "plan-2025-12-01-v1.xlsx"
        assert workbook.sheetnames == [
            "assignments",
            "rosters",
            "matrix",
            "kpis",
            "checks",
        ]
        assert assignments[0] == ("tour_id", "weekday", "start", "end", "driver")
        assert len(assignments) == 1 + SMALL_FORECAST.tour_count
        assert assignments[1][1] == 1
        assert kpis["drivers"] == 2
        assert kpis["block_mix.single"] is not None
        assert workbook["checks"].max_row >= 2

    def test_no_cell_is_a_formula(self, workbench, viewer, formula_draft):
        _, content = export_plan(viewer, formula_draft.id, "xlsx")
        workbook = load_workbook(io.BytesIO(content))
        cells = [
            cell
            for sheet in workbook.worksheets
            for row in sheet.iter_rows()
            for cell in row
        ]
        texts = [cell.value for cell in cells if isinstance(cell.value, str)]

        assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
        assert any(FORMULA_DEPOT in text for text in texts)
        assert not [text for text in texts if text.startswith(FORMULA_PREFIXES)]


class TestNeutraliseCell:
    @pytest.mark.parametrize("prefix", list(FORMULA_PREFIXES))
    def test_formula_prefix_gets_an_apostrophe(self, prefix):
        assert neutralise_cell(f"{prefix}SUM(A1:A9)") == f"'{prefix}SUM(A1:A9)"

    @pytest.mark.parametrize("text", ["Nord", "D001", "06:00", "", "'=already"])
    def test_other_text_stays(self, text):
        assert neutralise_cell(text) == text
