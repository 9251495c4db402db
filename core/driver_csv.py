"""Read a driver CSV file into checked values, with an outcome for every line.

The first non-empty line is the header. It names columns from
external_ref, display_name, home_depot, max_weekly_hours, is_active and
skills, in any order; external_ref and display_name are required. Cells are
separated by commas, or by semicolons when the header has more semicolons
than commas (as German Excel saves CSV), and may be quoted.

- external_ref: the operator's code for the driver, unique in the file;
- display_name: the driver's name, required;
- home_depot: the depot's name, may be empty;
- max_weekly_hours: hours a week, such as 40 or 37.5 (37,5 with
  semicolons). The value is above 0, at most 55 and a whole number of
  minutes. Empty keeps the driver's value, or 55 for a new driver;
- is_active: true/false, yes/no, ja/nein or 1/0; empty keeps the value, or
  true for a new driver;
- skills: qualification codes separated by |, such as ADR|KUEHL. Codes
  other than ADR, KUEHL and SCHWER are kept as tenant-defined ones, with a
  warning in case of a typing error.

Text is read as core.forecast_import reads forecasts: UTF-8 with or
without byte-order mark, UTF-16 with a byte-order mark, else Windows-1252.
Line ends may be LF, CRLF or CR. A workbook, a zip archive or other binary
content fails as a whole.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from core.driver_checks import (
    BIDI_CONTROLS,
    KNOWN_QUALIFICATIONS,
    MAX_QUALIFICATIONS,
    MAX_WEEKLY_MINUTES,
    checked_external_ref,
    checked_home_depot,
    checked_personal_field,
    qualification_code,
)
from core.errors import InvalidInput
from core.forecast_fields import quote
from core.forecast_import import decode_text

COLUMNS = (
    "external_ref",
    "display_name",
    "home_depot",
    "max_weekly_hours",
    "is_active",
    "skills",
)
REQUIRED_COLUMNS = ("external_ref", "display_name")
SKILL_SEPARATOR = "|"
MINUTES_PER_HOUR = 60
MAX_WEEKLY_HOURS = Decimal(MAX_WEEKLY_MINUTES) / MINUTES_PER_HOUR
TRUE_WORDS = frozenset({"true", "yes", "ja", "1", "y", "j"})
FALSE_WORDS = frozenset({"false", "no", "nein", "0", "n"})
MAX_RAW_CHARACTERS = 200

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HOURS = re.compile(r"\d{1,3}(?:[.,]\d{1,4})?")
# Leading bytes of an .xlsx (zip) file and of an Excel 97-2003 .xls file.
_BINARY_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
HEADER_EXAMPLE = ",".join(COLUMNS)

ValueT = TypeVar("ValueT")


@dataclass(frozen=True)
class DriverLineValues:
    """The checked values of one driver line; None means the column is absent
    or the cell empty, so the driver keeps its value or gets the default."""

    external_ref: str
    display_name: str
    home_depot: str | None
    max_weekly_minutes: int | None
    is_active: bool | None
    qualifications: tuple[str, ...] | None


@dataclass
class ParsedLine:
    """One source line: its text, its problems and, when it passed, its values.

    `raw` has control characters replaced by "?" and is cut after
    MAX_RAW_CHARACTERS. `note` describes a line without a driver, such as
    the header or an empty line.
    """

    number: int
    raw: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    values: DriverLineValues | None = None
    note: str = ""

    @property
    def location(self) -> str:
        return f"line {self.number}"


@dataclass(frozen=True)
class ParsedDriverFile:
    """All lines of a driver file and the columns its header names."""

    lines: tuple[ParsedLine, ...]
    columns: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not any(line.failures for line in self.lines)

    @property
    def drivers(self) -> list[ParsedLine]:
        return [line for line in self.lines if line.values is not None]


def parse_driver_file(content: bytes) -> ParsedDriverFile:
    """Check every line of a driver file; bad content gives failing lines."""
    if content.startswith(_BINARY_SIGNATURES) or b"\x00" in content[:4096]:
        return _single_failure(
            "the file is a workbook, an archive or other binary content, not CSV"
            f" text; save it as CSV with the header {HEADER_EXAMPLE}"
        )
    try:
        text = decode_text(content)
    except UnicodeDecodeError as error:
        return _single_failure(
            f"the file is not text in UTF-8 or Windows-1252 ({error}); save it as"
            " CSV (UTF-8) and import it again"
        )
    texts = _LINE_BREAK.split(text)
    if texts and texts[-1] == "":
        texts.pop()
    lines = [ParsedLine(number, masked(raw)) for number, raw in enumerate(texts, 1)]
    header_index = next((index for index, raw in enumerate(texts) if raw.strip()), None)
    if header_index is None:
        return _single_failure(
            f"the file is empty; expected the header {HEADER_EXAMPLE} and one line"
            " per driver"
        )

    delimiter = _delimiter(texts[header_index])
    header = lines[header_index]
    columns = _read_header(header, texts[header_index], delimiter)
    for line in lines[:header_index]:
        line.note = "the line is empty"
    if header.failures:
        return ParsedDriverFile(tuple(lines), ())

    first_line_of_ref: dict[str, int] = {}
    for line, raw in zip(lines[header_index + 1 :], texts[header_index + 1 :]):
        _read_driver_line(line, raw, columns, delimiter, first_line_of_ref)
    if not any(line.values is not None or line.failures for line in lines):
        header.failures.append(
            "the file names its columns but lists no driver; add one line per"
            " driver below the header"
        )
    return ParsedDriverFile(tuple(lines), columns)


def masked(raw: str) -> str:
    """Return source text with control characters shown as "?", cut to length."""
    visible = "".join(
        "?"
        if ord(character) < 32 or ord(character) == 127 or character in BIDI_CONTROLS
        else character
        for character in raw
    )
    if len(visible) > MAX_RAW_CHARACTERS:
        visible = visible[: MAX_RAW_CHARACTERS - 3] + "..."
    return visible


def _single_failure(reason: str) -> ParsedDriverFile:
    return ParsedDriverFile((ParsedLine(1, "", failures=[reason]),), ())


def _delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def _split(raw: str, delimiter: str) -> list[str]:
    """Split a line into cells, honouring quotes; raise csv.Error when it cannot."""
    return next(csv.reader([raw], delimiter=delimiter, strict=True), [])


def _read_header(line: ParsedLine, raw: str, delimiter: str) -> tuple[str, ...]:
    try:
        cells = _split(raw.lstrip("\ufeff"), delimiter)
    except csv.Error as error:
        line.failures.append(f"the header cannot be read as CSV ({error})")
        return ()
    names = tuple(cell.strip().lower() for cell in cells)
    unknown = [name for name in names if name not in COLUMNS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if unknown:
        quoted = ", ".join(quote(name) for name in unknown)
        line.failures.append(
            f"the header names unknown columns {quoted}; expected columns from"
            f" {', '.join(COLUMNS)}"
        )
    if repeated:
        line.failures.append(f"the header names {', '.join(repeated)} twice")
    if missing:
        line.failures.append(
            f"the header lacks the required columns {', '.join(missing)};"
            f" expected a header such as {HEADER_EXAMPLE}"
        )
    line.note = f"the header names the columns {', '.join(names)}"
    return names


def _read_driver_line(
    line: ParsedLine,
    raw: str,
    columns: tuple[str, ...],
    delimiter: str,
    first_line_of_ref: dict[str, int],
) -> None:
    if not raw.strip():
        line.note = "the line is empty"
        return
    try:
        cells = _split(raw, delimiter)
    except csv.Error as error:
        line.failures.append(f"the line cannot be read as CSV ({error})")
        return
    if len(cells) != len(columns):
        line.failures.append(
            f"the line has {len(cells)} cells but the header names"
            f" {len(columns)} columns ({', '.join(columns)}); check the"
            f" separator {delimiter!r} and quotes"
        )
        return

    row = dict(zip(columns, cells))
    external_ref = _checked(line, checked_external_ref, row["external_ref"])
    display_name = _checked(
        line, lambda value: checked_personal_field("name", value), row["display_name"]
    )
    home_depot = None
    if "home_depot" in row:
        home_depot = _checked(line, checked_home_depot, row["home_depot"])
    max_weekly_minutes = _weekly_minutes(line, row.get("max_weekly_hours", ""))
    is_active = _active_flag(line, row.get("is_active", ""))
    qualifications = None
    if "skills" in row:
        qualifications = _skills(line, row["skills"])

    if external_ref is not None:
        earlier = first_line_of_ref.setdefault(external_ref, line.number)
        if earlier != line.number:
            line.failures.append(
                f"external_ref {quote(external_ref)} repeats line {earlier}; each"
                " driver may appear once"
            )
    if line.failures or external_ref is None or display_name is None:
        return
    line.values = DriverLineValues(
        external_ref=external_ref,
        display_name=display_name,
        home_depot=home_depot,
        max_weekly_minutes=max_weekly_minutes,
        is_active=is_active,
        qualifications=qualifications,
    )


def _checked(
    line: ParsedLine, check: Callable[[str], ValueT], cell: str
) -> ValueT | None:
    """Run one field check; record its InvalidInput as a failure and return None."""
    try:
        return check(cell)
    except InvalidInput as error:
        line.failures.append(f"column {error.field} {error.reason}")
        return None


def _weekly_minutes(line: ParsedLine, cell: str) -> int | None:
    text = cell.strip()
    if not text:
        return None
    if not _HOURS.fullmatch(text):
        line.failures.append(
            f"column max_weekly_hours {quote(text)} is not a number of hours such"
            " as 40 or 37.5"
        )
        return None
    hours = Decimal(text.replace(",", "."))
    minutes = hours * MINUTES_PER_HOUR
    if not 0 < hours <= MAX_WEEKLY_HOURS:
        line.failures.append(
            f"column max_weekly_hours {quote(text)} is outside the range above 0"
            f" and at most {MAX_WEEKLY_HOURS} hours"
        )
        return None
    if minutes != minutes.to_integral_value():
        line.failures.append(
            f"column max_weekly_hours {quote(text)} is {minutes.normalize()}"
            " minutes, not a whole number of minutes"
        )
        return None
    return int(minutes)


def _active_flag(line: ParsedLine, cell: str) -> bool | None:
    word = cell.strip().casefold()
    if not word:
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    line.failures.append(
        f"column is_active {quote(cell)} is not true or false; use true, false,"
        " yes, no, ja, nein, 1 or 0"
    )
    return None


def _skills(line: ParsedLine, cell: str) -> tuple[str, ...] | None:
    codes: list[str] = []
    valid = True
    for part in cell.split(SKILL_SEPARATOR):
        if not part.strip():
            continue
        try:
            code = qualification_code(part)
        except InvalidInput as error:
            line.failures.append(f"column skills {error.reason}")
            valid = False
            continue
        if code in codes:
            line.warnings.append(f"column skills names {code} twice; it counts once")
            continue
        if code not in KNOWN_QUALIFICATIONS:
            line.warnings.append(
                f"column skills names {code}, which is not one of"
                f" {', '.join(KNOWN_QUALIFICATIONS)}; it is kept as a qualification"
                " of this tenant, so check its spelling"
            )
        codes.append(code)
    if len(codes) > MAX_QUALIFICATIONS:
        line.failures.append(
            f"column skills names {len(codes)} qualifications, more than the"
            f" {MAX_QUALIFICATIONS} a driver may hold"
        )
        valid = False
    return tuple(codes) if valid else None
