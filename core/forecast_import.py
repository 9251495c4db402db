"""Import a weekly forecast from a dispatcher's file, with a line-by-line report.

Accepted formats, detected from the first non-empty line unless the caller
names one (details in the modules that parse them):

- "sectioned" (core.forecast_sections): `Montag;Anzahl`, then `05:30-10:00;12`
  lines; `Feiertag;0` marks a holiday on the next weekday in sequence.
- "wide" (core.forecast_sections): `Montag;Anzahl;Dienstag;Anzahl;...`, then
  `range;count` pairs per row.
- "lines" (core.forecast_formats): `Mo 06:00-14:00 3 Fahrer Depot Nord`.
- "tidy" (core.forecast_tidy): header `day,start,end,count,depot,qualification`.
- "xlsx:<format>" (core.forecast_workbook): any of the above on the first
  non-empty sheet of an .xlsx workbook.

Text is read as UTF-8 (with or without byte-order mark), as UTF-16 when it
starts with a UTF-16 byte-order mark, and otherwise as Windows-1252. Line ends
may be LF, CRLF or CR. Ranges may use an en dash or em dash, hours may have
one digit (6:00), 24:00 is valid as an end, and an end at or before the start
means the tour ends on the next day.

Every line ends as pass, warning or failure. A failure blocks the forecast.
Warnings do not: a tour count of 0, and a template that repeats an earlier
line, whose counts are then added. The forecast is canonical
(`Forecast.from_templates`), so equal demand gives an equal sha256 whatever
the format and line order.
"""

from __future__ import annotations

import argparse
import codecs
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from core.forecast_fields import MAX_FORECAST_TOURS, LineOutcome, SourceRow, quote
from core.forecast_formats import PARSERS, detect_format
from core.forecast_report import (
    ImportReport,
    InvalidForecast,
    LineReport,
    LineStatus,
    build_report,
)
from core.forecast_workbook import UnreadableWorkbook, read_workbook_rows

__all__ = [
    "FORMATS",
    "ImportReport",
    "InvalidForecast",
    "LineReport",
    "LineStatus",
    "parse_forecast",
    "read_forecast_file",
]

logger = logging.getLogger(__name__)

FORMATS = tuple(PARSERS)
WORKBOOK_FORMAT = "xlsx"
_WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_SIGNATURE = b"PK\x03\x04"
# Excel 97-2003 .xls files are OLE2 compound documents with this signature.
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORMAT_EXAMPLES = (
    "a day heading such as 'Montag;Anzahl', a wide heading such as"
    " 'Montag;Anzahl;Dienstag;Anzahl', a template line such as"
    " 'Mo 06:00-14:00 3 Fahrer Depot Nord', or the header"
    " 'day,start,end,count,depot,qualification'"
)


def read_forecast_file(path: str | Path) -> ImportReport:
    """Read a forecast file and parse it, detecting the format from its content."""
    path = Path(path)
    return parse_forecast(path.read_bytes(), filename=path.name)


def parse_forecast(
    content: bytes, filename: str = "", source_format: str | None = None
) -> ImportReport:
    """Parse a forecast file's bytes into a canonical forecast and a line report.

    Args:
        content: the file as uploaded.
        filename: used only to recognise a workbook by its .xlsx suffix.
        source_format: one of FORMATS to skip detection, "xlsx" to require a
            workbook, or "xlsx:<format>" for both. Content that does not fit a
            named format gives failing lines, not an exception.

    Raises:
        ValueError: `source_format` is not a format name.
    """
    wants_workbook, inner_format = _split_format_name(source_format)
    if content.startswith(_OLE2_SIGNATURE):
        report = _single_failure(
            "unknown",
            "the file is an Excel 97-2003 .xls workbook, which cannot be read;"
            " save it as .xlsx or as CSV and import it again",
        )
    elif (
        wants_workbook
        or content.startswith(_ZIP_SIGNATURE)
        or filename.lower().endswith(_WORKBOOK_SUFFIXES)
    ):
        report = _parse_workbook(content, inner_format)
    else:
        report = _parse_text(content, inner_format)
    report = _check_total_tours(report)

    logger.info(
        "forecast parsed as %s: %d lines, %d warnings, %d failures",
        report.source_format,
        len(report.lines),
        len(report.warnings),
        len(report.failures),
    )
    return report


def _check_total_tours(report: ImportReport) -> ImportReport:
    """Fail a forecast whose lines add up to more than MAX_FORECAST_TOURS tours."""
    if report.forecast is None or report.forecast.tour_count <= MAX_FORECAST_TOURS:
        return report
    last = report.lines[-1]
    failure = LineReport(
        last.line_number,
        "",
        LineStatus.FAILURE,
        f"whole file: the lines add up to {report.forecast.tour_count} tours, more"
        f" than the {MAX_FORECAST_TOURS} tours a week may hold; check repeated"
        " lines, whose counts are added",
        last.sheet,
    )
    return replace(report, lines=(*report.lines, failure), forecast=None)


def _split_format_name(source_format: str | None) -> tuple[bool, str | None]:
    """Split a requested format into (requires a workbook, inner format or None)."""
    if source_format is None:
        return False, None
    name = source_format.strip().lower()
    wants_workbook = name == WORKBOOK_FORMAT or name.startswith(f"{WORKBOOK_FORMAT}:")
    inner_format = name.split(":", 1)[1] if ":" in name else name
    if inner_format == WORKBOOK_FORMAT:
        return True, None
    if inner_format not in FORMATS:
        choices = ", ".join([*FORMATS, WORKBOOK_FORMAT])
        raise ValueError(
            f"unknown forecast format {source_format!r}; expected one of {choices},"
            " or xlsx:<format>"
        )
    return wants_workbook, inner_format


def decode_text(content: bytes) -> str:
    """Decode text as UTF-16 (after its byte-order mark), UTF-8 or Windows-1252.

    UTF-8 may start with a byte-order mark. Bytes that are not valid UTF-8 are
    read as Windows-1252, the encoding of CSV files saved by German Excel.

    Raises:
        UnicodeDecodeError: the bytes are not valid in any of these encodings.
    """
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content.decode("utf-16")
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("cp1252")


def _parse_text(content: bytes, forced_format: str | None) -> ImportReport:
    try:
        text = decode_text(content)
    except UnicodeDecodeError as error:
        return _single_failure(
            forced_format or "unknown",
            f"the file is not text in UTF-8 or Windows-1252 ({error});"
            " save it as CSV (UTF-8) and import it again",
        )
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    rows = [SourceRow(number, line) for number, line in enumerate(lines, start=1)]
    return _parse_rows(rows, forced_format, prefix="")


def _parse_workbook(content: bytes, forced_format: str | None) -> ImportReport:
    label = f"{WORKBOOK_FORMAT}:{forced_format or 'unknown'}"
    try:
        rows, sheet_title = read_workbook_rows(content)
    except UnreadableWorkbook as error:
        return _single_failure(
            label,
            f"the file is not a readable .xlsx workbook ({error}); save it again"
            " from Excel as .xlsx, or as CSV",
        )
    if not rows:
        return _single_failure(
            label, "the workbook has no values on any sheet", sheet=sheet_title
        )
    return _parse_rows(rows, forced_format, prefix=f"{WORKBOOK_FORMAT}:")


def _parse_rows(
    rows: list[SourceRow], forced_format: str | None, prefix: str
) -> ImportReport:
    if not rows:
        return _single_failure(
            f"{prefix}{forced_format or 'unknown'}",
            f"the file is empty; expected {_FORMAT_EXAMPLES}",
        )
    if all(row.is_blank for row in rows):
        return _report_blank_rows(rows, f"{prefix}{forced_format or 'unknown'}")
    source_format = forced_format or detect_format(rows)
    if source_format is None:
        return _report_unknown_format(rows, prefix)
    outcomes = PARSERS[source_format](rows)
    return build_report(f"{prefix}{source_format}", outcomes)


def _single_failure(source_format: str, message: str, sheet: str = "") -> ImportReport:
    location = f"sheet '{sheet}' row 1" if sheet else "line 1"
    line = LineReport(1, "", LineStatus.FAILURE, f"{location}: {message}", sheet)
    return ImportReport(source_format, (line,), None)


def _report_blank_rows(rows: list[SourceRow], source_format: str) -> ImportReport:
    outcomes = [LineOutcome(row, note=f"the {row.kind} is empty") for row in rows]
    outcomes[0].note = ""
    outcomes[0].failures.append(
        f"the file contains only empty lines; expected {_FORMAT_EXAMPLES}"
    )
    return build_report(source_format, outcomes)


def _report_unknown_format(rows: list[SourceRow], prefix: str) -> ImportReport:
    first_row = next(row for row in rows if not row.is_blank)
    outcomes = []
    for row in rows:
        outcome = LineOutcome(row)
        if row is first_row:
            outcome.failures.append(
                f"{quote(row.raw)} does not start any known forecast format;"
                f" expected {_FORMAT_EXAMPLES}"
            )
        elif row.is_blank:
            outcome.note = f"the {row.kind} is empty"
        else:
            outcome.failures.append(
                f"{quote(row.raw)} was not read, because the format is unknown"
                f" (see {row.refer_to(first_row.number)})"
            )
        outcomes.append(outcome)
    return build_report(f"{prefix}unknown", outcomes)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the import report of one forecast file; exit with 1 if any line failed."""
    parser = argparse.ArgumentParser(
        description="Check a forecast file and print its line-by-line report."
    )
    parser.add_argument("path", type=Path, help="forecast file (CSV, text or .xlsx)")
    parser.add_argument(
        "--format",
        dest="source_format",
        help=f"read as this format instead of detecting it: {', '.join(FORMATS)},"
        " xlsx or xlsx:<format>",
    )
    arguments = parser.parse_args(argv)

    content = arguments.path.read_bytes()
    report = parse_forecast(content, arguments.path.name, arguments.source_format)
    print(report.format_text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
