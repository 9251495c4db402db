"""Parser for the tidy forecast format: one template per row under a header.

The header row names the columns `day,start,end,count,depot,qualification`,
delimited by commas, semicolons or tabs. The columns may come in any order,
and depot and qualification may be missing or empty. German headings (tag,
beginn, ende, anzahl, qualifikation) are read too. A day is an ISO number 1-7
or a German or English name. In a workbook, a time cell may also be a plain
fraction of a day, such as 0.1875 for 04:30.
"""

from __future__ import annotations

from collections.abc import Callable

from core.forecast_fields import (
    FieldError,
    LineOutcome,
    SourceRow,
    check_start_differs_from_end,
    normalize_depot,
    normalize_qualification,
    parse_clock,
    parse_count,
    parse_tidy_weekday,
    quote,
)
from core.forecast_sections import choose_delimiter, split_cells
from solver.tours import TourTemplate

TIDY_HEADINGS = {
    "day": "day",
    "tag": "day",
    "wochentag": "day",
    "weekday": "day",
    "start": "start",
    "beginn": "start",
    "end": "end",
    "ende": "end",
    "count": "count",
    "anzahl": "count",
    "depot": "depot",
    "qualification": "qualification",
    "qualifikation": "qualification",
}
_TIDY_REQUIRED = ("day", "start", "end", "count")
_TIDY_DELIMITERS = (",", ";", "\t")
_TIDY_EXAMPLE = "'day,start,end,count,depot,qualification'"
_TIDY_MEANINGS = {
    "day": "a weekday as 1 to 7, Montag to Sonntag or Monday to Sunday",
    "start": "a start time such as 05:30",
    "end": "an end time such as 10:00",
    "count": "a whole number of tours",
}


def find_tidy_delimiter(row: SourceRow, min_headings: int = 3) -> str | None:
    """Return the delimiter that makes the row a tidy header, or None.

    The row must name day, start and end, or at least `min_headings` known
    columns. Format detection requires two, so a header that lacks a column
    still goes to the tidy parser, which names what is missing.
    """
    for delimiter in _TIDY_DELIMITERS:
        headings = {
            TIDY_HEADINGS.get(cell.lower()) for cell in split_cells(row, delimiter)
        }
        headings.discard(None)
        if {"day", "start", "end"} <= headings or len(headings) >= min_headings:
            return delimiter
    return None


def parse_tidy(rows: list[SourceRow]) -> list[LineOutcome]:
    """Read the tidy format: a header row, then day,start,end,count,... rows."""
    header_row = next((row for row in rows if not row.is_blank), None)
    delimiter = _TIDY_DELIMITERS[0]
    if header_row is not None:
        delimiter = find_tidy_delimiter(header_row) or choose_delimiter(rows)

    outcomes = []
    header_cells: list[str] | None = None
    header_line = 0
    columns: dict[str, int] | None = None
    for row in rows:
        outcome = LineOutcome(row)
        outcomes.append(outcome)
        cells = split_cells(row, delimiter)
        if row.is_blank:
            outcome.note = f"the {row.kind} is empty"
        elif not cells:
            outcome.note = f"the {row.kind} has only empty cells"
        elif header_cells is None:
            header_cells = cells
            header_line = row.number
            columns = _read_tidy_header(outcome, cells)
        elif [cell.lower() for cell in cells] == [c.lower() for c in header_cells]:
            outcome.warnings.append(
                f"{quote(row.raw)} repeats the header of"
                f" {row.refer_to(header_line)} and is skipped"
            )
        elif columns is None:
            outcome.failures.append(
                f"{quote(row.raw)} cannot be read, because the header at"
                f" {row.refer_to(header_line)} was rejected"
            )
        else:
            _read_tidy_row(outcome, cells, columns, len(header_cells))
    return outcomes


def _read_tidy_header(outcome: LineOutcome, cells: list[str]) -> dict[str, int] | None:
    """Map each known column to its index, or return None when the header fails."""
    subject = quote(outcome.row.raw)
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        column = TIDY_HEADINGS.get(cell.lower())
        if not cell:
            continue
        if column is None:
            outcome.warnings.append(
                f"{subject} has the column {quote(cell)}, which is not used"
            )
        elif column in columns:
            outcome.failures.append(
                f"{subject} has the column {column} twice, in columns"
                f" {columns[column] + 1} and {index + 1}"
            )
        else:
            columns[column] = index

    missing = [column for column in _TIDY_REQUIRED if column not in columns]
    if missing:
        outcome.failures.append(
            f"{subject} is not a complete tidy header; it lacks the column(s)"
            f" {', '.join(missing)}; expected a header such as {_TIDY_EXAMPLE}"
        )
    if outcome.failures:
        return None
    outcome.note = f"{subject} is the header"
    return columns


def _read_tidy_row(
    outcome: LineOutcome, cells: list[str], columns: dict[str, int], width: int
) -> None:
    row = outcome.row
    subject = quote(row.raw)
    problems: list[str] = []

    def cell(column: str) -> str:
        index = columns.get(column)
        return cells[index] if index is not None and index < len(cells) else ""

    def read(column: str, reader: Callable[[str], int], suffix: str = "") -> int | None:
        if not cell(column):
            problems.append(f"has no {column} value; expected {_TIDY_MEANINGS[column]}")
            return None
        try:
            return reader(cell(column))
        except FieldError as error:
            problems.append(f"{error}{suffix}")
            return None

    # A workbook stores a time cell as a fraction of a day, so only there is a
    # plain number such as 0.1875 read as a time (04:30).
    fractions_allowed = row.from_workbook

    def read_start(text: str) -> int:
        return parse_clock(text, is_end=False, allow_day_fraction=fractions_allowed)

    def read_end(text: str) -> int:
        return parse_clock(text, is_end=True, allow_day_fraction=fractions_allowed)

    day = read("day", parse_tidy_weekday)
    start = read("start", read_start)
    end = read("end", read_end)
    count = read("count", parse_count, "; expected a whole number in column count")
    depot = normalize_depot(cell("depot"))
    qualification = ""
    try:
        qualification = normalize_qualification(cell("qualification"))
    except FieldError as error:
        problems.append(str(error))
    if start is not None and end is not None:
        try:
            check_start_differs_from_end(start, end)
        except FieldError as error:
            problems.append(str(error))
    extra_cells = [text for text in cells[width:] if text]
    if extra_cells:
        problems.append(
            f"has the extra value {quote(extra_cells[0])} beyond the last column"
            " of the header"
        )

    if problems:
        outcome.failures.extend(f"{subject} {problem}" for problem in problems)
        return
    template = TourTemplate(day, start, end, count, depot, qualification)
    outcome.templates.append((template, subject))
