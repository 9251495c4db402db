"""Field readers shared by all forecast formats: weekdays, times, counts, codes.

Each reader returns a clean value or raises FieldError. The error message is a
predicate about the quoted source text, such as "has no tour count", so that a
format parser can write "'05:30-10:00;x' has no tour count; expected ...".
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from solver.tours import MINUTES_PER_DAY, TourTemplate, format_clock

WEEKDAY_NAMES = {
    1: "Monday",
    2: "Tuesday",
    3: "Wednesday",
    4: "Thursday",
    5: "Friday",
    6: "Saturday",
    7: "Sunday",
}

# German full and short names, "Sonnabend" (Saturday in northern Germany), and
# English full and three-letter names, all compared in lower case.
WEEKDAY_WORDS = {
    "montag": 1, "mo": 1, "monday": 1, "mon": 1,
    "dienstag": 2, "di": 2, "tuesday": 2, "tue": 2,
    "mittwoch": 3, "mi": 3, "wednesday": 3, "wed": 3,
    "donnerstag": 4, "do": 4, "thursday": 4, "thu": 4,
    "freitag": 5, "fr": 5, "friday": 5, "fri": 5,
    "samstag": 6, "sonnabend": 6, "sa": 6, "saturday": 6, "sat": 6,
    "sonntag": 7, "so": 7, "sunday": 7, "sun": 7,
}  # fmt: skip
HOLIDAY_WORDS = frozenset({"feiertag", "holiday"})
COUNT_HEADINGS = frozenset({"anzahl", "count", "touren", "tours"})
KNOWN_QUALIFICATIONS = ("ADR", "KUEHL", "SCHWER")

# En dash, em dash, minus sign, hyphen and non-breaking hyphen, which word
# processors and spreadsheets put in place of "-" in a range such as 06:00–14:00.
_DASHES = re.compile("[\u2013\u2014\u2212\u2010\u2011]")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?(?:[eE]-?\d+)?")
_WHOLE_NUMBER = re.compile(r"\+?[0-9]+")
_NEGATIVE_NUMBER = re.compile(r"-\s*[0-9]+(?:[.,][0-9]+)?")
_FRACTION = re.compile(r"\+?[0-9]*[.,][0-9]+")
_QUALIFICATION_CODE = re.compile(r"[A-Z][A-Z0-9_]*")

# Tolerance when a workbook time cell, a fraction of a day, is turned into whole
# minutes: 0.01 minute absorbs float rounding but not a real 30-second offset.
_MAX_MINUTE_ROUNDING = 0.01


class FieldError(ValueError):
    """A field that cannot be read; the message is a predicate about its text."""


@dataclass(frozen=True)
class SourceRow:
    """One line of a text file, or one row of a worksheet turned into text.

    `cells` is None for text lines, which a format parser splits with its own
    delimiter. For worksheet rows it contains the cell texts, and `raw` shows
    them joined by semicolons.
    """

    number: int
    raw: str
    sheet: str = ""
    cells: tuple[str, ...] | None = None

    @property
    def from_workbook(self) -> bool:
        return self.cells is not None

    @property
    def location(self) -> str:
        """Position of the row as a dispatcher finds it in the file."""
        if self.from_workbook:
            return f"sheet '{self.sheet}' row {self.number}"
        return f"line {self.number}"

    @property
    def kind(self) -> str:
        """Word for this unit of the source: "row" in a workbook, else "line"."""
        return "row" if self.from_workbook else "line"

    def refer_to(self, number: int) -> str:
        """Name another line or row of the same source, e.g. "line 3"."""
        return f"{self.kind} {number}"

    @property
    def text(self) -> str:
        """Row as one line of words: the line itself, or the non-empty cells."""
        if self.cells is None:
            return self.raw
        return " ".join(cell for cell in self.cells if cell.strip())

    @property
    def is_blank(self) -> bool:
        return not self.text.strip()

    def split(self, delimiter: str) -> list[str]:
        """Split a text line at the delimiter, honouring quotes; keep sheet cells."""
        if self.cells is not None:
            return list(self.cells)
        try:
            return next(csv.reader([self.raw], delimiter=delimiter), [])
        except csv.Error:
            return self.raw.split(delimiter)


@dataclass
class LineOutcome:
    """A format parser's reading of one row, before the checks across rows.

    Every clause in `failures` and `warnings` names its subject, as in
    "'05:30-10:00;x' has no tour count". `templates` pairs each template with
    the quoted text it came from.
    """

    row: SourceRow
    note: str = ""
    templates: list[tuple[TourTemplate, str]] = field(default_factory=list)
    holidays: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


MAX_QUOTED_CHARACTERS = 80
MAX_TOURS_PER_LINE = 999
# Tours of one week in all, whatever the lines: four times the largest real
# week planned so far fits well below it, and more would exhaust the server.
MAX_FORECAST_TOURS = 20_000


def quote(text: str) -> str:
    """Quote source text for a message, with control characters shown as '?'.

    Text past MAX_QUOTED_CHARACTERS is cut and ends in '...', so a huge line
    cannot flood the report.
    """
    visible = "".join(
        "?" if ord(character) < 32 or ord(character) == 127 else character
        for character in text.strip()
    )
    if len(visible) > MAX_QUOTED_CHARACTERS:
        visible = visible[: MAX_QUOTED_CHARACTERS - 3] + "..."
    return f"'{visible}'"


def parse_weekday(text: str) -> int | None:
    """Return the ISO weekday (1 = Monday) of a German or English day name, or None."""
    return WEEKDAY_WORDS.get(text.strip().rstrip(".").lower())


def is_holiday_word(text: str) -> bool:
    return text.strip().lower() in HOLIDAY_WORDS


def parse_tidy_weekday(text: str) -> int:
    """Read a weekday given as ISO number 1-7 or as a German or English name."""
    stripped = text.strip()
    if stripped in {"1", "2", "3", "4", "5", "6", "7"}:
        return int(stripped)
    weekday = parse_weekday(stripped)
    if weekday is None:
        raise FieldError(
            f"has the day {quote(stripped)}, which is not a weekday; expected 1 to 7,"
            " Montag to Sonntag, Mo to So or Monday to Sunday"
        )
    return weekday


def normalize_dashes(text: str) -> str:
    return _DASHES.sub("-", text)


def parse_clock(text: str, *, is_end: bool, allow_day_fraction: bool = False) -> int:
    """Read a time as minutes after midnight; an end of 24:00 gives 0.

    With `allow_day_fraction`, a plain number from 0 to 1 is read as a fraction
    of a day (0.1875 is 04:30), which is how a spreadsheet stores a time cell.
    """
    stripped = text.strip()
    if allow_day_fraction and _DECIMAL.fullmatch(stripped):
        return _clock_from_day_fraction(stripped, is_end=is_end)

    match = _CLOCK.fullmatch(stripped)
    if match is None:
        raise FieldError(
            f"has {quote(stripped)} where a time is expected;"
            " write times as HH:MM, such as 05:30"
        )
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if minutes > 59 or seconds > 59:
        raise FieldError(
            f"has the invalid time {quote(stripped)}; minutes run from 00 to 59"
        )
    if seconds:
        raise FieldError(
            f"has the time {quote(stripped)} with seconds; tour times are whole minutes"
        )
    if hours == 24 and minutes == 0:
        return _end_of_day(is_end)
    if hours > 23:
        raise FieldError(
            f"has the invalid time {quote(stripped)}; hours run from 00 to 23,"
            " and 24:00 is allowed only as an end time"
        )
    return hours * 60 + minutes


def _clock_from_day_fraction(text: str, *, is_end: bool) -> int:
    fraction = float(text)
    if fraction > 1:
        raise FieldError(
            f"has {quote(text)} where a time is expected; a time cell contains"
            " a fraction of a day from 0 to 1"
        )
    exact_minutes = fraction * MINUTES_PER_DAY
    minutes = round(exact_minutes)
    if abs(exact_minutes - minutes) > _MAX_MINUTE_ROUNDING:
        raise FieldError(
            f"has the time cell value {quote(text)}, which is not a whole minute"
        )
    if minutes == MINUTES_PER_DAY:
        return _end_of_day(is_end)
    return minutes


def _end_of_day(is_end: bool) -> int:
    if not is_end:
        raise FieldError(
            "starts at 24:00, which is only valid as an end time;"
            " write 00:00 on the next day instead"
        )
    return 0


def parse_time_range(text: str) -> tuple[int, int]:
    """Read 'HH:MM-HH:MM' (any dash) as start and end minutes after midnight."""
    parts = normalize_dashes(text).split("-")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise FieldError(
            f"has the malformed time range {quote(text)};"
            " expected start-end such as 05:30-10:00"
        )
    start = parse_clock(parts[0], is_end=False)
    end = parse_clock(parts[1], is_end=True)
    check_start_differs_from_end(start, end)
    return start, end


def check_start_differs_from_end(start: int, end: int) -> None:
    if start == end:
        raise FieldError(
            f"starts and ends at {format_clock(start)};"
            " a tour needs an end time different from its start"
        )


def parse_count(text: str) -> int:
    """Read a tour count: a whole number of 0 or more.

    The caller appends the expected form, because its wording depends on where
    the format puts the count.
    """
    stripped = text.strip()
    if _WHOLE_NUMBER.fullmatch(stripped):
        count = int(stripped)
        if count > MAX_TOURS_PER_LINE:
            raise FieldError(
                f"has the tour count {quote(stripped)}, more than the"
                f" {MAX_TOURS_PER_LINE} tours one line may give"
            )
        return count
    if _NEGATIVE_NUMBER.fullmatch(stripped):
        raise FieldError(f"has the negative tour count {quote(stripped)}")
    if _FRACTION.fullmatch(stripped):
        raise FieldError(
            f"has the tour count {quote(stripped)}, which is not a whole number"
        )
    if any(character in "0123456789" for character in stripped):
        raise FieldError(
            f"has the tour count {quote(stripped)}, which is not a whole number"
        )
    raise FieldError("has no tour count")


def looks_like_number(text: str) -> bool:
    stripped = text.strip()
    return any(
        pattern.fullmatch(stripped)
        for pattern in (_WHOLE_NUMBER, _NEGATIVE_NUMBER, _FRACTION)
    )


def normalize_qualification(text: str) -> str:
    """Return a qualification code in upper case with umlauts spelled out.

    KÜHL becomes KUEHL, so both spellings give the same template key.
    """
    code = text.strip().upper()
    for umlaut, spelled in (("Ä", "AE"), ("Ö", "OE"), ("Ü", "UE")):
        code = code.replace(umlaut, spelled)
    if code and not _QUALIFICATION_CODE.fullmatch(code):
        raise FieldError(
            f"has the qualification {quote(text)}, which is not one code;"
            " expected a single code such as ADR, KUEHL or SCHWER"
        )
    return code


def known_qualification(word: str) -> str:
    """Return the code when the word is one of KNOWN_QUALIFICATIONS, else ""."""
    try:
        code = normalize_qualification(word)
    except FieldError:
        return ""
    return code if code in KNOWN_QUALIFICATIONS else ""


def normalize_depot(text: str) -> str:
    """Return a depot name with runs of spaces collapsed; spelling and case stay."""
    return " ".join(text.split())


def describe_template(template: TourTemplate) -> str:
    """Describe a template for a dispatcher, e.g. 'Monday 05:30-10:00 at depot Nord'."""
    text = (
        f"{WEEKDAY_NAMES[template.day]} {format_clock(template.start_minute)}"
        f"-{_format_end(template.end_minute)}"
    )
    if template.depot:
        text += f" at depot {template.depot}"
    if template.qualification:
        text += f" needing {template.qualification}"
    return text


def _format_end(end_minute: int) -> str:
    return "24:00" if end_minute == 0 else format_clock(end_minute)
