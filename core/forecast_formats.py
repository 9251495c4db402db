"""Parser for the template-per-line forecast format, and format detection.

Template per line (format name "lines"), one template per line of text:

    Mo 06:00-14:00 3 Fahrer Depot Nord ADR
    Mi 06:00-10:00 + 15:00-19:00
    Do 22:00-06:00 Qualifikation KUEHL
    Fr Feiertag

The line starts with a weekday (German or English, full or short, as in
`forecast_fields.WEEKDAY_WORDS`) and a time range. Then come, all optional:

- a tour count right after the range(s), a whole number; the default is 1;
- the word "Fahrer" after the count;
- "Depot" followed by the depot name. The name runs to the end of the line or
  to the next qualification, and it keeps its spelling, such as "Süd";
- a qualification, either a bare ADR, KUEHL (or KÜHL) or SCHWER, or any
  single code after "Qualifikation" (also "Quali" or "Qualification").

A split template `Mi 06:00-10:00 + 15:00-19:00` becomes two templates of the
same day with the same count, depot and qualification, one per part. The
parts must be in time order without overlap, and only the last part may cross
midnight, because every part keeps the weekday of the line. A line
`<weekday> Feiertag` marks a public holiday, and a template on that day fails.
Empty lines and lines starting with "#" pass without effect.

`detect_format` names the format from the first non-empty row. The tidy
header gives "tidy", and a weekday followed by a time gives "lines". A
weekday heading gives "wide" when more weekday headings follow on the same
row, and "sectioned" when none do.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from core.forecast_fields import (
    WEEKDAY_NAMES,
    FieldError,
    LineOutcome,
    SourceRow,
    is_holiday_word,
    known_qualification,
    looks_like_number,
    normalize_dashes,
    normalize_depot,
    normalize_qualification,
    parse_count,
    parse_time_range,
    parse_weekday,
    quote,
)
from core.forecast_sections import (
    choose_delimiter,
    is_heading_word,
    parse_sectioned,
    parse_wide,
    split_cells,
)
from core.forecast_tidy import find_tidy_delimiter, parse_tidy
from solver.tours import TourTemplate, format_clock

_LINE_EXAMPLE = "'Mo 06:00-14:00 3 Fahrer Depot Nord'"
_DRIVER_WORDS = frozenset({"fahrer"})
_DEPOT_WORDS = frozenset({"depot"})
_QUALIFICATION_WORDS = frozenset({"qualifikation", "quali", "qualification"})
_CLOCK_TEXT = r"\d{1,2}:\d{2}(?::\d{2})?"
# A range written with spaces around its dash, "06:00 - 14:00", becomes one word.
_SPACED_RANGE = re.compile(rf"({_CLOCK_TEXT})\s*-\s*(?=\d{{1,2}}:\d{{2}})")
_PLUS = re.compile(r"\s*\+\s*")


def parse_lines(rows: list[SourceRow]) -> list[LineOutcome]:
    """Read one tour template per line, such as 'Mo 06:00-14:00 3 Depot Nord'."""
    outcomes = []
    for row in rows:
        outcome = LineOutcome(row)
        outcomes.append(outcome)
        text = row.text.strip()
        if not text:
            outcome.note = f"the {row.kind} is empty"
        elif text.startswith("#"):
            outcome.note = f"the {row.kind} is a comment"
        else:
            _read_template_line(outcome, text)
    return outcomes


def _read_template_line(outcome: LineOutcome, text: str) -> None:
    subject = quote(text)
    normalized = _SPACED_RANGE.sub(r"\1-", normalize_dashes(text))
    words = _PLUS.sub(" + ", normalized).split()

    day = parse_weekday(words[0])
    if day is None:
        outcome.failures.append(
            f"{subject} starts with {quote(words[0])}, which is not a weekday;"
            f" expected a line such as {_LINE_EXAMPLE}"
        )
        return
    if len(words) == 2 and is_holiday_word(words[1]):
        outcome.holidays.append(day)
        outcome.note = (
            f"{subject} marks {WEEKDAY_NAMES[day]} as a public holiday with no tours"
        )
        return

    problems: list[str] = []
    ranges, position = _read_split_ranges(words, problems)
    count, depot, qualification = _read_template_details(words[position:], problems)
    if problems:
        outcome.failures.extend(f"{subject} {problem}" for problem in problems)
        return
    for start, end in ranges:
        template = TourTemplate(day, start, end, count, depot, qualification)
        outcome.templates.append((template, subject))


def _read_split_ranges(
    words: list[str], problems: list[str]
) -> tuple[list[tuple[int, int]], int]:
    """Read the range words after the weekday, joined by '+' for a split template.

    Returns the ranges and the position of the first word after them.
    """
    ranges: list[tuple[int, int]] = []
    position = 1
    after_plus = False
    while True:
        if position >= len(words) or is_heading_word(words[position]):
            if after_plus:
                problems.append("ends with '+' but has no time range after it")
            else:
                problems.append(
                    "has no time range after the weekday; expected start-end such"
                    " as 06:00-14:00"
                )
            return ranges, position
        try:
            ranges.append(parse_time_range(words[position]))
        except FieldError as error:
            problems.append(str(error))
        position += 1
        after_plus = position < len(words) and words[position] == "+"
        if not after_plus:
            break
        position += 1

    for (earlier_start, earlier_end), (later_start, _) in zip(ranges, ranges[1:]):
        if earlier_end <= earlier_start:
            problems.append(
                f"has a part after {format_clock(earlier_start)}-"
                f"{format_clock(earlier_end)}, which already crosses midnight; write"
                " the part after midnight on its own line with the next weekday"
            )
        elif later_start < earlier_end:
            problems.append(
                f"has a part starting at {format_clock(later_start)}, before the"
                f" previous part ends at {format_clock(earlier_end)}; the parts of a"
                " split template must follow each other"
            )
    return ranges, position


def _read_template_details(
    words: list[str], problems: list[str]
) -> tuple[int, str, str]:
    """Read the optional count, 'Fahrer', depot and qualification of a line."""
    count, depot, qualification = 1, "", ""
    position = 0

    if position < len(words) and looks_like_number(words[position]):
        try:
            count = parse_count(words[position])
        except FieldError as error:
            problems.append(f"{error}; expected a whole number after the time range")
        position += 1
    if position < len(words) and words[position].lower() in _DRIVER_WORDS:
        position += 1

    while position < len(words):
        word = words[position]
        keyword = word.lower()
        position += 1
        if keyword in _DEPOT_WORDS:
            name_words = []
            while position < len(words) and not _starts_detail(words[position]):
                name_words.append(words[position])
                position += 1
            if not name_words:
                problems.append(f"has {quote(word)} without a depot name after it")
            elif depot:
                problems.append("names more than one depot; a template has one depot")
            else:
                depot = normalize_depot(" ".join(name_words))
        elif keyword in _QUALIFICATION_WORDS:
            if position >= len(words):
                problems.append(
                    f"has {quote(word)} without a code after it;"
                    " expected a code such as ADR"
                )
                continue
            qualification = _add_qualification(qualification, words[position], problems)
            position += 1
        elif known_qualification(word):
            qualification = _add_qualification(qualification, word, problems)
        else:
            problems.append(
                f"has {quote(word)}, which is not understood; expected a count,"
                " 'Fahrer', 'Depot <name>' or a qualification such as ADR, KUEHL"
                " or SCHWER"
            )
    return count, depot, qualification


def _starts_detail(word: str) -> bool:
    keyword = word.lower()
    return (
        keyword in _DEPOT_WORDS
        or keyword in _QUALIFICATION_WORDS
        or bool(known_qualification(word))
    )


def _add_qualification(current: str, word: str, problems: list[str]) -> str:
    try:
        code = normalize_qualification(word)
    except FieldError as error:
        problems.append(str(error))
        return current
    if current and code != current:
        problems.append(
            f"names the two qualifications {current} and {code};"
            " a template requires at most one"
        )
        return current
    return code


PARSERS: dict[str, Callable[[list[SourceRow]], list[LineOutcome]]] = {
    "sectioned": parse_sectioned,
    "wide": parse_wide,
    "lines": parse_lines,
    "tidy": parse_tidy,
}


def detect_format(rows: list[SourceRow]) -> str | None:
    """Name the format that the first row with content begins, or None if none fits.

    Rows starting with "#" are skipped here, because they are comments in the
    template-per-line format.
    """
    first_row = next(
        (
            row
            for row in rows
            if not row.is_blank and not row.text.lstrip().startswith("#")
        ),
        None,
    )
    if first_row is None:
        return None
    if find_tidy_delimiter(first_row, min_headings=2) is not None:
        return "tidy"
    if _starts_template_line(first_row):
        return "lines"

    cells = split_cells(first_row, choose_delimiter(rows))
    if not cells:
        return None
    if parse_weekday(cells[0]) is not None or is_holiday_word(cells[0]):
        later_headings = [
            cell
            for cell in cells[2:]
            if parse_weekday(cell) is not None or is_holiday_word(cell)
        ]
        return "wide" if later_headings else "sectioned"
    if "-" in normalize_dashes(cells[0]) and not is_heading_word(cells[0]):
        # Ranges without a day heading: the sectioned parser names the problem.
        return "sectioned"
    return None


def _starts_template_line(row: SourceRow) -> bool:
    """Tell whether a row reads as 'Mo 06:00-14:00 ...' rather than a day heading.

    A weekday followed by a time, or by "Feiertag", is a template line. So is a
    weekday followed by other words on a text line without any cell delimiter,
    such as 'Mo Depot Nord', which the line parser then explains is missing
    its time range.
    """
    words = row.text.split()
    if len(words) < 2 or parse_weekday(words[0]) is None:
        return False
    if words[1][0].isdigit() or is_holiday_word(words[1]):
        return True
    has_delimiter = any(delimiter in row.raw for delimiter in (";", "\t", ","))
    return not row.from_workbook and not has_delimiter
