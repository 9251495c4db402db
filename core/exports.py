"""Export service: a plan version as a zip of plan files, or as one workbook.

"csv" gives a zip of the five files that `python -m solver plan` writes
(assignments.csv, rosters.csv, matrix.csv, kpis.json, checks.json; see
solver.export). "xlsx" gives one workbook with one sheet per file: the three
CSV tables as they are, kpis as name and value rows, and checks as one row
per violation (or one row for a rule without violations).

Every text cell of a CSV file or a sheet that begins with =, +, -, @, a tab
or a carriage return gets a leading apostrophe, so a spreadsheet program
shows it as text instead of running it as a formula.

A plan of named drivers names them by external reference, never by name.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from core.audit import append_entry
from core.context import authorize, unit_of_work
from core.errors import InvalidInput
from core.permissions import Actor, Permission
from core.plan_drivers import relabel_by_external_ref
from core.plans import check_results
from core.tenancy import get_owned
from db.models import PlanVersion
from db.repositories import forecasts, plans
from solver.checks import CheckResult
from solver.export import FORMULA_PREFIXES, PLAN_FILE_NAMES, write_plan_files

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("csv", "xlsx")
CSV_FILE_NAMES = tuple(name for name in PLAN_FILE_NAMES if name.endswith(".csv"))
CHECKS_HEADER = (
    "rule",
    "label",
    "passed",
    "checked",
    "violation",
    "driver",
    "day",
    "tour_ids",
    "amount_minutes",
)
_WHOLE_NUMBER = re.compile(r"\d{1,15}")
_DECIMAL = re.compile(r"\d{1,15}\.\d{1,6}")

PLAN_EXPORTED = "plan.exported"


def export_plan(
    actor: Actor, plan_version_id: int, file_format: str
) -> tuple[str, bytes]:
    """Export a plan version and return the download's file name and bytes.

    `file_format` is "csv" (a zip of the plan files) or "xlsx" (one workbook);
    any other value raises InvalidInput.
    """
    authorize(actor, Permission.PLAN_READ)
    if not isinstance(file_format, str) or file_format.lower() not in EXPORT_FORMATS:
        raise InvalidInput(
            "file_format",
            f"unknown export format {file_format!r}; choose one of"
            f" {', '.join(EXPORT_FORMATS)}",
        )
    file_format = file_format.lower()

    with unit_of_work(actor) as session:
        version = get_owned(session, actor, PlanVersion, plan_version_id)
        week_anchor = plans.get_plan(
            session, actor.tenant_id, version.plan_id
        ).week_anchor
        plan = plans.load_plan(session, actor.tenant_id, version.id)
        if version.kpis.get("named_drivers"):
            plan = relabel_by_external_ref(session, actor.tenant_id, plan)
        tours = forecasts.list_tours(
            session, actor.tenant_id, version.forecast_version_id
        )
        checks = check_results(session, version)
        kpis = _export_kpis(version, week_anchor.isoformat(), checks)

        with tempfile.TemporaryDirectory(prefix="plan-export-") as folder:
            paths = write_plan_files(Path(folder), plan, tours, kpis, checks)
            files = {path.name: path.read_bytes() for path in paths}
        if file_format == "csv":
            content = _zip_archive(files)
        else:
            content = _workbook(files)

        append_entry(
            session,
            actor,
            PLAN_EXPORTED,
            "plan version",
            version.id,
            {"format": file_format, "bytes": len(content)},
        )
        extension = "zip" if file_format == "csv" else "xlsx"
        filename = (
            f"plan-{week_anchor.isoformat()}-v{version.version_number}.{extension}"
        )

    logger.info(
        "plan version %s exported as %s by user %s",
        plan_version_id,
        file_format,
        actor.user_id,
    )
    return filename, content


def neutralise_cell(text: str) -> str:
    """Prefix an apostrophe when a spreadsheet would read the text as a formula."""
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _export_kpis(
    version: PlanVersion, week_anchor: str, checks: Sequence[CheckResult]
) -> dict[str, Any]:
    """Combine the stored KPIs with the proof of quality, as kpis.json carries them."""
    return {
        **version.kpis,
        "plan_version_id": version.id,
        "version_number": version.version_number,
        "week_anchor": week_anchor,
        "plan_status": version.status.value,
        "status": version.solve_status,
        "lower_bound": version.lower_bound,
        "lp_bound": version.lp_bound,
        "gap": version.gap,
        "seconds": version.solver_seconds,
        "violations": sum(len(check.violations) for check in checks),
        "uncoverable": list(version.uncovered),
    }


def _zip_archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in PLAN_FILE_NAMES:
            content = files[name]
            if name in CSV_FILE_NAMES:
                content = _neutralised_csv(content)
            archive.writestr(name, content)
    return buffer.getvalue()


def _neutralised_csv(content: bytes) -> bytes:
    """Rewrite a CSV file with every cell neutralised; cells already safe stay equal."""
    rows = csv.reader(io.StringIO(content.decode("utf-8"), newline=""))
    output = io.StringIO(newline="")
    writer = csv.writer(output)
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return output.getvalue().encode("utf-8")


def _workbook(files: dict[str, bytes]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name in CSV_FILE_NAMES:
        text = files[name].decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        _add_sheet(workbook, Path(name).stem, rows[0], rows[1:])

    kpis = json.loads(files["kpis.json"])
    _add_sheet(workbook, "kpis", ["name", "value"], list(_kpi_rows(kpis)))
    checks = json.loads(files["checks.json"])
    _add_sheet(workbook, "checks", list(CHECKS_HEADER), list(_check_rows(checks)))

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _add_sheet(
    workbook: Workbook, title: str, header: list[str], rows: list[list[Any]]
) -> None:
    sheet = workbook.create_sheet(title)
    sheet.append([_sheet_value(cell) for cell in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_sheet_value(cell) for cell in row])
    sheet.freeze_panes = "A2"


def _sheet_value(value: Any) -> Any:
    """Turn a value into a safe cell: numbers stay numbers, text is neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    # CSV cells arrive as text; whole and decimal numbers become numbers again.
    if _WHOLE_NUMBER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    # openpyxl rejects control characters other than tab, line feed and return.
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    return neutralise_cell(text)


def _kpi_rows(kpis: dict[str, Any], prefix: str = "") -> Iterator[list[Any]]:
    """Flatten the KPIs into name-value rows; nested names are joined by dots."""
    for name in sorted(kpis):
        value = kpis[name]
        if isinstance(value, dict):
            yield from _kpi_rows(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            yield [f"{prefix}{name}", json.dumps(value, ensure_ascii=False)]
        else:
            yield [f"{prefix}{name}", value]


def _check_rows(checks: list[dict[str, Any]]) -> Iterator[list[Any]]:
    for check in checks:
        head = [check["rule"], check["label"], check["passed"], check["checked"]]
        if not check["violations"]:
            yield [*head, "", "", "", "", ""]
        for violation in check["violations"]:
            yield [
                *head,
                violation["message"],
                violation["driver"],
                violation["day"],
                " ".join(violation["tour_ids"]),
                violation["amount_minutes"],
            ]
