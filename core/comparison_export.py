"""Export of a comparison: tables as CSV or Excel, charts as PNG, or an HTML report.

"csv" gives a zip of results.csv, kpis.csv, driver_diffs.csv,
hours_distribution.csv, head_count.csv and coverage.csv. "xlsx" gives one
workbook with a sheet per table. "png" gives a zip of one PNG per chart of
core.comparison_charts, rendered by kaleido in Chromium. "html" gives one
self-contained page with the tables and interactive charts: plotly.js is
inlined once, so the page loads no script from elsewhere.

Text cells that begin with =, +, -, @, a tab or a carriage return get a
leading apostrophe, as in core.exports, so a spreadsheet shows them as text.
Numbers stay numbers. Drivers are named by external reference, never by
name. Every export appends a `comparison.exported` audit entry. Exports of
comparisons carry no personal data, so the personal-data export limit of
core.rate_limits does not apply, and core.rate_limits has no other export
limit.
"""

from __future__ import annotations

import csv
import html
import io
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from core.audit import append_entry
from core.comparison import (
    WEEKDAY_SHORT_NAMES,
    Comparison,
    ResultRef,
    build_comparison,
    checked_refs,
    format_delta,
    format_value,
)
from core.comparison_charts import comparison_figures
from core.context import authorize, unit_of_work
from core.errors import InvalidInput, SolvereignError
from core.exports import neutralise_cell
from core.permissions import Actor, Permission

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("csv", "xlsx", "png", "html")
FILE_EXTENSIONS = {"csv": "zip", "xlsx": "xlsx", "png": "zip", "html": "html"}
FILE_SUFFIXES = {"csv": "-tables", "png": "-charts"}
DEFAULT_BROWSER_PATH = "/usr/bin/chromium"
PNG_WIDTH_PIXELS = 1000
COMPARISON_EXPORTED = "comparison.exported"

Table = tuple[list[str], list[list[Any]]]


class ChartRenderingUnavailable(SolvereignError):
    """PNG charts cannot be drawn because Chromium is missing or failed."""


def comparison_filename(refs: Sequence[ResultRef], file_format: str) -> str:
    """Return the download's file name, such as "comparison-plan-3-scenario-5.zip".

    The two zips differ by a suffix: "-tables" for CSV, "-charts" for PNG.
    """
    parts = "-".join(f"{ref.kind}-{ref.id}" for ref in refs)
    suffix = FILE_SUFFIXES.get(file_format, "")
    return f"comparison-{parts}{suffix}.{FILE_EXTENSIONS[file_format]}"


def browser_path() -> str | None:
    """Return the Chromium that kaleido uses, or None when none is installed.

    BROWSER_PATH wins when it is set. Otherwise /usr/bin/chromium, when it
    exists, is written into BROWSER_PATH of this process, because kaleido's
    browser launcher reads it from there.
    """
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(DEFAULT_BROWSER_PATH, os.X_OK):
        os.environ["BROWSER_PATH"] = DEFAULT_BROWSER_PATH
        return DEFAULT_BROWSER_PATH
    return None


def export_comparison(
    actor: Actor, refs: Sequence[ResultRef], file_format: str
) -> tuple[str, bytes]:
    """Export a comparison and return the download's file name and bytes.

    `file_format` is "csv", "xlsx", "png" or "html"; any other value raises
    InvalidInput. "png" raises ChartRenderingUnavailable when Chromium is
    missing or fails. The refs are checked as core.comparison.compare
    checks them.
    """
    authorize(actor, Permission.PLAN_READ)
    if not isinstance(file_format, str) or file_format.lower() not in EXPORT_FORMATS:
        raise InvalidInput(
            "file_format",
            f"unknown export format {file_format!r}; choose one of"
            f" {', '.join(EXPORT_FORMATS)}",
        )
    file_format = file_format.lower()
    checked = checked_refs(refs)
    if file_format == "png" and browser_path() is None:
        raise _missing_browser()

    comparison = build_comparison(actor, checked, with_names=False)
    if file_format == "csv":
        content = _csv_archive(comparison)
    elif file_format == "xlsx":
        content = _workbook(comparison)
    elif file_format == "png":
        content = _png_archive(comparison)
    else:
        content = html_report(comparison).encode("utf-8")

    keys = [ref.key for ref in checked]
    with unit_of_work(actor) as session:
        append_entry(
            session,
            actor,
            COMPARISON_EXPORTED,
            "comparison",
            ",".join(keys),
            {"format": file_format, "bytes": len(content), "results": keys},
        )
    logger.info(
        "comparison of %s exported as %s by user %s",
        ", ".join(keys),
        file_format,
        actor.user_id,
    )
    return comparison_filename(checked, file_format), content


def comparison_tables(comparison: Comparison) -> dict[str, Table]:
    """Build every table of a comparison as a header and rows, by file stem."""
    columns = list(comparison.columns)
    others = columns[1:]
    kpi_header = ["kpi", "unit", *columns, *(f"delta {label}" for label in others)]
    kpi_rows = [
        [row.label, row.unit, *row.values, *row.deltas[1:]]
        for row in comparison.kpi_rows
    ]
    return {
        "results": (
            ["label", "kind", "id", "week_anchor", "solve_status"],
            [
                [
                    result.label,
                    result.ref.kind,
                    result.ref.id,
                    result.week_anchor.isoformat() if result.week_anchor else "",
                    result.solve_status,
                ]
                for result in comparison.results
            ],
        ),
        "kpis": (kpi_header, kpi_rows),
        "driver_diffs": (
            ["result", "driver", "day", "before", "after", "change"],
            [
                [
                    diff.result,
                    diff.driver,
                    WEEKDAY_SHORT_NAMES[diff.day - 1] if diff.day else "",
                    diff.before,
                    diff.after,
                    diff.change,
                ]
                for diff in comparison.driver_diffs
            ],
        ),
        "hours_distribution": (
            ["result", "weekly_hours"],
            [
                [label, hours]
                for label, week in zip(columns, comparison.hours, strict=True)
                for hours in week
            ],
        ),
        "head_count": (
            ["day", *columns],
            [
                [name, *(counts[index] for counts in comparison.head_count)]
                for index, name in enumerate(WEEKDAY_SHORT_NAMES)
            ],
        ),
        "coverage": (
            ["result", "day", "minute", "tours", "drivers"],
            [
                [
                    result.label,
                    row["day"],
                    row["minute"],
                    row["tours"],
                    row["drivers"],
                ]
                for result in comparison.results
                for row in result.coverage
            ],
        ),
    }


def html_report(comparison: Comparison) -> str:
    """Write the comparison as one self-contained HTML page.

    The page contains the results, the KPI table with deltas against the
    first result, the charts and the driver diffs. All text is HTML-escaped.
    plotly.js is inlined in the first chart, and the others reuse it.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Comparison</title>",
        "<style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse;margin-bottom:1.5em}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}"
        ".delta{color:#555;font-size:0.85em}</style>",
        "</head><body>",
        "<h1>Comparison</h1>",
        "<p>Differences are against the first result.</p>",
        _kpi_table_html(comparison),
        "<h2>Charts</h2>",
    ]
    for index, figure in enumerate(comparison_figures(comparison).values()):
        parts.append(
            figure.to_html(
                full_html=False,
                include_plotlyjs=index == 0,
                config={"displaylogo": False},
            )
        )
    parts.append("<h2>Driver changes</h2>")
    parts.append(_driver_diffs_html(comparison))
    parts.append("</body></html>")
    return "\n".join(parts)


def _kpi_table_html(comparison: Comparison) -> str:
    header = "".join(f"<th>{html.escape(label)}</th>" for label in comparison.columns)
    rows = []
    for row in comparison.kpi_rows:
        cells = []
        for index, value in enumerate(row.values):
            text = html.escape(format_value(value, row.unit))
            delta = format_delta(row.deltas[index], row.unit)
            if delta:
                text += f' <span class="delta">({html.escape(delta)})</span>'
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr><td>{html.escape(row.label)}</td>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr><th>KPI</th>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _driver_diffs_html(comparison: Comparison) -> str:
    if not comparison.driver_diffs:
        return "<p>No driver's week changes.</p>"
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(diff.result)}</td>"
        f"<td>{html.escape(diff.driver)}</td>"
        f"<td>{html.escape(diff.change)}</td>"
        "</tr>"
        for diff in comparison.driver_diffs
    )
    return (
        "<table><thead><tr><th>Result</th><th>Driver</th><th>Change</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _csv_archive(comparison: Comparison) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for stem, (header, rows) in comparison_tables(comparison).items():
            archive.writestr(f"{stem}.csv", _csv_bytes(header, rows))
    return buffer.getvalue()


def _csv_bytes(header: list[str], rows: Iterable[list[Any]]) -> bytes:
    output = io.StringIO(newline="")
    writer = csv.writer(output)
    writer.writerow([_csv_value(cell) for cell in header])
    for row in rows:
        writer.writerow([_csv_value(cell) for cell in row])
    return output.getvalue().encode("utf-8")


def _csv_value(value: Any) -> str:
    """Write numbers as they are, and neutralise text that could be a formula."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        return str(value)
    return neutralise_cell(str(value))


def _workbook(comparison: Comparison) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for stem, (header, rows) in comparison_tables(comparison).items():
        sheet = workbook.create_sheet(stem)
        sheet.append([_sheet_value(cell) for cell in header])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_sheet_value(cell) for cell in row])
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _sheet_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    # openpyxl rejects control characters other than tab, line feed and return.
    return neutralise_cell(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def _png_archive(comparison: Comparison) -> bytes:
    figures = comparison_figures(comparison)
    images = render_png(figures)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in figures:
            archive.writestr(f"{name}.png", images[name])
    return buffer.getvalue()


def render_png(figures: dict[str, go.Figure]) -> dict[str, bytes]:
    """Render figures to PNG bytes by name, in one Chromium session of kaleido.

    Raises ChartRenderingUnavailable when Chromium is missing or fails.
    """
    if browser_path() is None:
        raise _missing_browser()
    # Imported here, so that the other formats work where kaleido is missing.
    import kaleido

    with tempfile.TemporaryDirectory(prefix="comparison-charts-") as folder:
        paths = {name: Path(folder) / f"{name}.png" for name in figures}
        jobs = [
            {
                "fig": figure,
                "path": str(paths[name]),
                "opts": {
                    "format": "png",
                    "width": PNG_WIDTH_PIXELS,
                    "height": figure.layout.height,
                },
            }
            for name, figure in figures.items()
        ]
        try:
            kaleido.write_fig_from_object_sync(jobs)
            return {name: path.read_bytes() for name, path in paths.items()}
        # kaleido and its browser launcher raise errors of many unrelated types
        # (a browser that fails to start, a timeout, a missing file).
        except Exception as error:
            logger.exception("kaleido failed to render %s charts", len(figures))
            raise ChartRenderingUnavailable(
                f"the charts could not be drawn as PNG: {error}; check that"
                f" Chromium at {os.environ.get('BROWSER_PATH')} starts"
            ) from error


def _missing_browser() -> ChartRenderingUnavailable:
    configured = os.environ.get("BROWSER_PATH")
    where = configured or DEFAULT_BROWSER_PATH
    return ChartRenderingUnavailable(
        f"PNG charts need Chromium, and none is installed at {where}; install"
        " Debian's chromium package (make browser) or set BROWSER_PATH to a"
        " Chromium binary, or export the HTML report instead"
    )
