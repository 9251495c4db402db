"""Parsers for the two forecast formats headed by weekday names.

Sectioned: a heading line such as `Montag;Anzahl` opens a day, and each
following line `05:30-10:00;12` gives a time range and a tour count for it.

Wide: one heading row contains a column pair per weekday
(`Montag;Anzahl;Dienstag;Anzahl;...`), and each later row contains
`range;count` in those pairs. A pair may be empty where a day has fewer rows
than others.

In both, a `Feiertag;0` heading marks a public holiday. It takes the place of
the next weekday in sequence: the day after the previous heading, or Monday
when it comes first. A holiday has no tours, so a range under it is a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.forecast_fields import (
    COUNT_HEADINGS,
    WEEKDAY_NAMES,
    FieldError,
    LineOutcome,
    SourceRow,
    is_holiday_word,
    parse_count,
    parse_time_range,
    parse_weekday,
    quote,
)
from solver.tours import TourTemplate

_DELIMITERS = (";", "\t", ",")
_DELIMITER_NAMES = {";": "semicolon", "\t": "tab", ",": "comma"}
_SUNDAY = 7


@dataclass(frozen=True)
class _DayHeading:
    """A day opened by a heading; `day` is None when the weekday is unknown."""

    day: int | None
    line_number: int
    is_holiday: bool
    rejected: bool
    text: str = ""
    width: int = 2


def choose_delimiter(rows: list[SourceRow]) -> str:
    """Return the first of ';', tab and ',' found in the first non-empty line."""
    for row in rows:
        if row.is_blank or row.from_workbook:
            continue
        for delimiter in _DELIMITERS:
            if delimiter in row.raw:
                return delimiter
        break
    return _DELIMITERS[0]


def split_cells(row: SourceRow, delimiter: str) -> list[str]:
    """Split a row into stripped cells without the empty cells at its end."""
    cells = [cell.strip() for cell in row.split(delimiter)]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def is_heading_word(text: str) -> bool:
    """Tell whether a cell reads as a heading (a word) rather than a time range."""
    stripped = text.strip()
    return bool(stripped) and not any(char.isdigit() for char in stripped)


def parse_sectioned(rows: list[SourceRow]) -> list[LineOutcome]:
    """Read the sectioned format: day heading lines, each followed by range lines."""
    delimiter = choose_delimiter(rows)
    outcomes = []
    section: _DayHeading | None = None
    section_lines: dict[int, int] = {}

    for row in rows:
        outcome = LineOutcome(row)
        outcomes.append(outcome)
        if row.is_blank:
            outcome.note = f"the {row.kind} is empty"
            continue
        cells = split_cells(row, delimiter)
        if not cells:
            outcome.note = f"the {row.kind} has only empty cells"
        elif is_heading_word(cells[0]):
            section = _open_section(outcome, cells, section, section_lines)
        else:
            _read_range_line(outcome, cells, section, delimiter)
    return outcomes


def _next_weekday(
    previous: _DayHeading | None, name_position: Callable[[int], str]
) -> tuple[int | None, str]:
    """Find the weekday that a holiday heading replaces, or explain why none is left.

    `name_position` turns the position of the previous heading into words,
    such as "line 12" or "column 5".
    """
    if previous is None:
        return 1, ""
    where = name_position(previous.line_number)
    if previous.day is None:
        return None, f"follows the unknown heading at {where}, so its day is unknown"
    if previous.day == _SUNDAY:
        return None, f"follows Sunday (heading at {where}), so no weekday is left"
    return previous.day + 1, ""


def _open_section(
    outcome: LineOutcome,
    cells: list[str],
    previous: _DayHeading | None,
    section_lines: dict[int, int],
) -> _DayHeading:
    row = outcome.row
    subject = quote(row.raw)
    heading = cells[0]
    second = cells[1] if len(cells) > 1 else ""
    is_holiday = is_holiday_word(heading)
    failures_before = len(outcome.failures)

    if is_holiday:
        day, problem = _next_weekday(previous, row.refer_to)
        if problem:
            outcome.failures.append(f"{subject} {problem}")
        if second and second != "0" and second.lower() not in COUNT_HEADINGS:
            outcome.failures.append(
                f"{subject} gives a count for a holiday; a holiday has no tours,"
                " so write it as 'Feiertag;0'"
            )
    else:
        day = parse_weekday(heading)
        if day is None:
            outcome.failures.append(
                f"{subject} starts with {quote(heading)}, which is neither a weekday"
                " nor a time range; expected a heading such as 'Montag;Anzahl' or a"
                " line such as '05:30-10:00;12'"
            )
        elif second and second.lower() not in COUNT_HEADINGS:
            outcome.warnings.append(
                f"{subject} has the column heading {quote(second)}, which is ignored;"
                " the count column is usually headed 'Anzahl'"
            )

    if any(cell for cell in cells[2:]):
        outcome.failures.append(
            f"{subject} has more cells than one day heading; expected one heading"
            " such as 'Montag;Anzahl' per line"
        )
    if day is not None and day in section_lines:
        outcome.failures.append(
            f"{subject} opens {WEEKDAY_NAMES[day]} a second time; its section"
            f" already starts at {row.refer_to(section_lines[day])}"
        )
    elif day is not None:
        section_lines[day] = row.number

    rejected = len(outcome.failures) > failures_before
    if not rejected and is_holiday:
        outcome.holidays.append(day)
        outcome.note = (
            f"{subject} marks {WEEKDAY_NAMES[day]} as a public holiday with no tours"
        )
    elif not rejected:
        outcome.note = f"{subject} opens {WEEKDAY_NAMES[day]}"
    return _DayHeading(day, row.number, is_holiday, rejected)


def _read_range_line(
    outcome: LineOutcome,
    cells: list[str],
    section: _DayHeading | None,
    delimiter: str,
) -> None:
    row = outcome.row
    subject = quote(row.raw)
    count_text = cells[1] if len(cells) > 1 else ""
    count_place = (
        "in the cell after the time range"
        if row.from_workbook
        else f"after the {_DELIMITER_NAMES[delimiter]}"
    )
    problems = []

    try:
        start, end = parse_time_range(cells[0])
    except FieldError as error:
        problems.append(str(error))
    try:
        count = parse_count(count_text)
    except FieldError as error:
        problems.append(f"{error}; expected a whole number {count_place}")
    extra_cells = [cell for cell in cells[2:] if cell]
    if extra_cells:
        problems.append(
            f"has the extra cell {quote(extra_cells[0])} after the count;"
            " expected only a time range and a count"
        )

    if section is None:
        problems.append(
            "has no day heading above it; expected a line such as 'Montag;Anzahl'"
            " before the first time range"
        )
    elif section.is_holiday:
        problems.append(
            f"is in the holiday section at {row.refer_to(section.line_number)};"
            " a holiday has no tours"
        )
    elif section.rejected:
        problems.append(
            f"is in the section at {row.refer_to(section.line_number)},"
            " whose heading was rejected"
        )

    if problems:
        outcome.failures.extend(f"{subject} {problem}" for problem in problems)
        return
    template = TourTemplate(section.day, start, end, count)
    outcome.templates.append((template, subject))


def parse_wide(rows: list[SourceRow]) -> list[LineOutcome]:
    """Read the wide format: one heading row of day pairs, then range;count rows."""
    delimiter = choose_delimiter(rows)
    outcomes = []
    columns: dict[int, _DayHeading] | None = None
    heading_line = 0

    for row in rows:
        outcome = LineOutcome(row)
        outcomes.append(outcome)
        if row.is_blank:
            outcome.note = f"the {row.kind} is empty"
            continue
        cells = split_cells(row, delimiter)
        first_cell = next((cell for cell in cells if cell), "")
        if not cells:
            outcome.note = f"the {row.kind} has only empty cells"
        elif not is_heading_word(first_cell):
            _read_wide_row(outcome, cells, columns, delimiter)
        elif columns is None:
            columns = _read_wide_heading(outcome, cells)
            heading_line = row.number
        elif parse_weekday(first_cell) is not None or is_holiday_word(first_cell):
            outcome.failures.append(
                f"{quote(row.raw)} is a second heading row; a wide forecast has one"
                f" heading row, here at {row.refer_to(heading_line)}"
            )
        else:
            outcome.failures.append(
                f"{quote(row.raw)} starts with {quote(first_cell)}, which is neither"
                " a weekday heading nor a time range"
            )
    return outcomes


def _read_wide_heading(
    outcome: LineOutcome, cells: list[str]
) -> dict[int, _DayHeading]:
    """Map the column index of each day's range cell to that day's heading."""
    row = outcome.row
    subject = quote(row.raw)
    columns: dict[int, _DayHeading] = {}
    day_columns: dict[int, int] = {}
    previous: _DayHeading | None = None
    index = 0

    while index < len(cells):
        heading = cells[index]
        if not heading:
            index += 1
            continue
        column_number = index + 1
        second = cells[index + 1] if index + 1 < len(cells) else ""
        width = 2
        problems = []

        is_holiday = is_holiday_word(heading)
        if is_holiday:
            day, problem = _next_weekday(previous, "column {}".format)
            if problem:
                problems.append(problem)
            if second and second != "0" and second.lower() not in COUNT_HEADINGS:
                problems.append("gives a count for a holiday; write 'Feiertag;0'")
        else:
            day = parse_weekday(heading)
            if day is None:
                problems.append(
                    "is not a weekday; expected Montag to Sonntag, Mo to So or Feiertag"
                )
        if parse_weekday(second) is not None or is_holiday_word(second):
            width = 1
            problems.append(
                "has no count column after it; expected pairs such as 'Montag;Anzahl'"
            )
        elif not is_holiday and second and second.lower() not in COUNT_HEADINGS:
            outcome.warnings.append(
                f"{subject} column {column_number + 1} has the heading {quote(second)},"
                f" which is read as the count column of {heading}"
            )
        if day is not None and day in day_columns:
            problems.append(
                f"repeats {WEEKDAY_NAMES[day]} from column {day_columns[day]}"
            )
        elif day is not None:
            day_columns[day] = column_number

        outcome.failures.extend(
            f"{subject} column {column_number} {quote(heading)} {problem}"
            for problem in problems
        )
        if not problems and is_holiday:
            outcome.holidays.append(day)
        # The column number is stored as the line number, so that a holiday
        # after a rejected heading can name the column it follows.
        previous = _DayHeading(
            day, column_number, is_holiday, bool(problems), heading, width
        )
        columns[index] = previous
        index += width

    if not outcome.failures:
        outcome.note = f"{subject} is the heading row for " + ", ".join(
            WEEKDAY_NAMES[column.day] + (" (holiday)" if column.is_holiday else "")
            for column in columns.values()
        )
    return columns


def _read_wide_row(
    outcome: LineOutcome,
    cells: list[str],
    columns: dict[int, _DayHeading] | None,
    delimiter: str,
) -> None:
    row = outcome.row
    if columns is None:
        outcome.failures.append(
            f"{quote(row.raw)} has no heading row above it; expected a first row"
            " such as 'Montag;Anzahl;Dienstag;Anzahl'"
        )
        return

    claimed_indexes = set()
    for index, column in columns.items():
        claimed_indexes.update(range(index, index + column.width))
        pair_cells = cells[index : index + column.width]
        if not any(pair_cells):
            continue
        pair_text = (";" if row.from_workbook else delimiter).join(pair_cells)
        pair_subject = f"{column.text} {quote(pair_text)}"
        if column.rejected:
            outcome.failures.append(
                f"{pair_subject} is in column {index + 1}, whose heading was rejected"
            )
            continue
        if column.is_holiday:
            outcome.failures.append(
                f"{pair_subject} is in the holiday column {index + 1};"
                " a holiday has no tours"
            )
            continue
        _read_wide_pair(outcome, column.day, pair_cells, pair_subject)

    for index, cell in enumerate(cells):
        if cell and index not in claimed_indexes:
            outcome.failures.append(
                f"{quote(row.raw)} has {quote(cell)} in column {index + 1},"
                " which has no weekday heading"
            )


def _read_wide_pair(
    outcome: LineOutcome, day: int, pair_cells: list[str], subject: str
) -> None:
    range_text = pair_cells[0]
    count_text = pair_cells[1] if len(pair_cells) > 1 else ""
    problems = []

    if range_text:
        try:
            start, end = parse_time_range(range_text)
        except FieldError as error:
            problems.append(str(error))
    else:
        problems.append("has a count but no time range; expected start-end first")
    try:
        count = parse_count(count_text)
    except FieldError as error:
        problems.append(
            f"{error}; expected a whole number in the count column next to the range"
        )

    if problems:
        outcome.failures.extend(f"{subject} {problem}" for problem in problems)
        return
    outcome.templates.append((TourTemplate(day, start, end, count), subject))
