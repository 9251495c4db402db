"""Import drivers' availability exceptions from CSV, all lines or none.

The first non-empty line is the header. It names columns from
driver_external_ref, date, status, note, start and end, in any order, and
the first three are required. Cells are separated by commas, or by
semicolons when the header has more semicolons than commas, and may be
quoted. Text is decoded as core.driver_csv decodes driver files.

- driver_external_ref: an active driver of the tenant;
- date: the local date in Europe/Vienna, as 2026-12-07 or 07.12.2026. A
  timestamp with a UTC offset, such as 2026-12-06T23:30:00+00:00, counts
  on its Vienna date (here 2026-12-07), and one without an offset is read
  as Vienna wall-clock time;
- status: VACATION, SICK, BLOCKED or AVAILABLE, in any case;
- note: free text, stored encrypted; empty for none;
- start, end: HH:MM, both empty for the whole day; end may be 24:00.

Each (driver, date) may appear once in a file. A line sets that driver's
exception of that date, replacing the one stored before; dates not in the
file keep theirs. Each line's report has its number, the field at fault
(or "" for the line as a whole) and a message. Any failing line rejects
the whole file and nothing changes. Importing the same file again changes
nothing, bumps no week's row_version and returns applied=False.

Audit. An applied file adds one "availability.updated" entry per driver
and week it changed (dates and statuses, never notes), and one
"availability.imported" entry with counts and the file's SHA-256. A file
that changes nothing adds one "availability.import_unchanged" entry, and a
rejected file one "availability.import_rejected" entry. The file name and
the report are not stored, because notes may name people.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.audit import append_entry
from core.availability import (
    AVAILABILITY_STATUSES,
    AVAILABILITY_UPDATED,
    MAX_NOTE_LENGTH,
    ExceptionInput,
    bump_week,
    checked_input,
    store_exception,
)
from core.context import authorize, lock_tenant, unit_of_work
from core.driver_csv import masked
from core.driver_import import MAX_IMPORT_BYTES, MAX_IMPORT_LINES
from core.errors import InvalidInput
from core.forecast_fields import quote
from core.forecast_import import decode_text
from core.forecast_report import LineStatus
from core.permissions import Actor, Permission
from db.models import Driver, utc_now
from db.repositories import availability, drivers
from solver.tours import MINUTES_PER_DAY

logger = logging.getLogger(__name__)

LOCAL_ZONE = ZoneInfo("Europe/Vienna")
COLUMNS = ("driver_external_ref", "date", "status", "note", "start", "end")
REQUIRED_COLUMNS = ("driver_external_ref", "date", "status")
HEADER_EXAMPLE = ",".join(COLUMNS)

EXCEPTIONS_IMPORTED = "availability.imported"
EXCEPTION_IMPORT_UNCHANGED = "availability.import_unchanged"
EXCEPTION_IMPORT_REJECTED = "availability.import_rejected"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
# Leading bytes of an .xlsx (zip) file and of an Excel 97-2003 .xls file.
_BINARY_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


@dataclass(frozen=True)
class ExceptionLineReport:
    """The outcome of one line: its number, the field at fault and a message.

    `field` is "" when the message concerns the line as a whole. `raw` is
    the line's text with control characters shown as "?", cut to length.
    """

    line_number: int
    field: str
    status: LineStatus
    message: str
    raw: str = ""


@dataclass(frozen=True)
class ExceptionImportResult:
    """Every line's outcome and what the file changed.

    `applied` is True when the file changed any exception. `created`,
    `updated` and `unchanged` count exception lines, and `weeks` the
    driver weeks whose row_version was bumped.
    """

    filename: str
    lines: tuple[ExceptionLineReport, ...]
    applied: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    weeks: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[ExceptionLineReport, ...]:
        return tuple(line for line in self.lines if line.status is LineStatus.FAILURE)

    @property
    def line_count(self) -> int:
        """Count the file's lines; a line with several problems has several entries."""
        return len({line.line_number for line in self.lines})

    @property
    def failed_line_count(self) -> int:
        return len({line.line_number for line in self.failures})

    def format_text(self) -> str:
        """Write the report as text: a summary, then one line each."""
        summary = f"availability import of {self.filename}: {self.line_count} lines, "
        if self.failures:
            summary += f"{self.failed_line_count} failed; rejected, nothing changed"
        else:
            summary += (
                f"{self.created} created, {self.updated} updated,"
                f" {self.unchanged} unchanged"
            )
        rows = [
            f"{'FAIL' if line.status is LineStatus.FAILURE else 'PASS'}  line"
            f" {line.line_number}{' ' + line.field if line.field else ''}:"
            f" {line.message}"
            for line in self.lines
        ]
        return "\n".join([summary, *rows])


@dataclass
class _Line:
    number: int
    raw: str
    failures: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    ref: str = ""
    day: date | None = None
    value: ExceptionInput | None = None

    def fail(self, field_name: str, message: str) -> None:
        self.failures.append((field_name, message))


def import_exceptions(
    actor: Actor, filename: str, content: bytes
) -> ExceptionImportResult:
    """Import an exception CSV file and return its line-by-line result.

    Raises InvalidInput for content that is not bytes, over the driver
    import's MAX_IMPORT_BYTES or MAX_IMPORT_LINES. Failing lines do not
    raise: the result lists them and nothing changes.
    """
    authorize(actor, Permission.AVAILABILITY_WRITE)
    _check_size(content)
    if not isinstance(filename, str):
        raise InvalidInput("filename", f"expected text, got {filename!r}")
    lines = _parse(content)
    sha256 = hashlib.sha256(content).hexdigest()

    with unit_of_work(actor) as session:
        lock_tenant(session, actor.tenant_id)
        entries = [line for line in lines if line.value is not None]
        known = drivers.find_by_refs(
            session, actor.tenant_id, {line.ref for line in entries}
        )
        for line in entries:
            driver = known.get(line.ref)
            if driver is None or driver.erased_at is not None:
                line.fail(
                    "driver_external_ref",
                    f"driver {quote(line.ref)} not found; check the reference"
                    " against the driver list",
                )
            elif not driver.is_active:
                line.fail(
                    "driver_external_ref",
                    f"driver {quote(line.ref)} is inactive; activate the driver or"
                    " remove the line",
                )
        if any(line.failures for line in lines):
            result = _result(filename, lines, applied=False)
            _audit_file(session, actor, EXCEPTION_IMPORT_REJECTED, sha256, result)
            return result

        counts, changed_weeks = _apply(session, actor, entries, known)
        result = _result(
            filename,
            lines,
            applied=bool(changed_weeks),
            created=counts["created"],
            updated=counts["updated"],
            unchanged=counts["unchanged"],
            weeks=len(changed_weeks),
        )
        action = EXCEPTIONS_IMPORTED if changed_weeks else EXCEPTION_IMPORT_UNCHANGED
        _audit_file(session, actor, action, sha256, result)

    logger.info(
        "availability import for tenant %s: %d created, %d updated, %d unchanged",
        actor.tenant_id,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result


def _apply(
    session: Session, actor: Actor, entries: list[_Line], known: dict[str, Driver]
) -> tuple[dict[str, int], dict[tuple[int, date], dict[str, str]]]:
    """Store every line's exception; bump and audit each changed driver week.

    Returns the line counts and, per changed (driver id, week anchor), the
    statuses of its changed dates.
    """
    days = [line.day for line in entries if line.day is not None]
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    changed_weeks: dict[tuple[int, date], dict[str, str]] = defaultdict(dict)
    if not days:
        return counts, changed_weeks
    stored = {
        (row.driver_id, row.day): row
        for row in availability.list_exceptions(
            session,
            actor.tenant_id,
            min(days),
            max(days),
            [known[line.ref].id for line in entries],
        )
    }
    now = utc_now()
    for line in entries:
        assert line.day is not None and line.value is not None
        driver = known[line.ref]
        row = stored.get((driver.id, line.day))
        if not store_exception(session, actor, driver, row, line.day, line.value, now):
            counts["unchanged"] += 1
            line.note = "unchanged"
            continue
        counts["created" if row is None else "updated"] += 1
        line.note = "creates the exception" if row is None else "updates the exception"
        anchor = line.day - timedelta(days=line.day.isoweekday() - 1)
        changed_weeks[(driver.id, anchor)][line.day.isoformat()] = line.value.status
    session.flush()
    for (driver_id, anchor), statuses in sorted(changed_weeks.items()):
        bump_week(session, actor.tenant_id, driver_id, anchor, now)
        append_entry(
            session,
            actor,
            AVAILABILITY_UPDATED,
            "driver",
            driver_id,
            {
                "source": "import",
                "week_anchor": anchor.isoformat(),
                "days": dict(sorted(statuses.items())),
            },
        )
    return counts, changed_weeks


# --- Reading the file -----------------------------------------------------------


def _check_size(content: object) -> None:
    if not isinstance(content, bytes):
        raise InvalidInput("content", "expected the uploaded file's bytes")
    if len(content) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            "content",
            f"the file is {len(content)} bytes, more than the limit of"
            f" {MAX_IMPORT_BYTES} bytes (2 MiB); split it into smaller files",
        )
    line_count = max(content.count(b"\n"), content.count(b"\r")) + 1
    if line_count > MAX_IMPORT_LINES:
        raise InvalidInput(
            "content",
            f"the file has {line_count} lines, more than the limit of"
            f" {MAX_IMPORT_LINES}; remove empty lines or split the file",
        )


def _parse(content: bytes) -> list[_Line]:
    """Check every line of the file; bad content gives failing lines."""
    if content.startswith(_BINARY_SIGNATURES) or b"\x00" in content[:4096]:
        return [
            _single_failure(
                "the file is a workbook, an archive or other binary content, not"
                f" CSV text; save it as CSV with the header {HEADER_EXAMPLE}"
            )
        ]
    try:
        text = decode_text(content)
    except UnicodeDecodeError as error:
        return [
            _single_failure(
                f"the file is not text in UTF-8 or Windows-1252 ({error}); save it"
                " as CSV (UTF-8) and import it again"
            )
        ]
    texts = _LINE_BREAK.split(text)
    if texts and texts[-1] == "":
        texts.pop()
    lines = [_Line(number, masked(raw)) for number, raw in enumerate(texts, 1)]
    header_index = next((index for index, raw in enumerate(texts) if raw.strip()), None)
    if header_index is None:
        return [
            _single_failure(
                f"the file is empty; expected the header {HEADER_EXAMPLE} and one"
                " line per exception"
            )
        ]
    delimiter = (
        ";" if texts[header_index].count(";") > texts[header_index].count(",") else ","
    )
    header = lines[header_index]
    columns = _read_header(header, texts[header_index], delimiter)
    for line in lines[:header_index]:
        line.note = "the line is empty"
    if header.failures:
        return lines

    first_line_of_key: dict[tuple[str, date], int] = {}
    for line, raw in zip(lines[header_index + 1 :], texts[header_index + 1 :]):
        _read_line(line, raw, columns, delimiter, first_line_of_key)
    if not any(line.value is not None or line.failures for line in lines):
        header.fail(
            "",
            "the file names its columns but lists no exception; add one line per"
            " driver and date below the header",
        )
    return lines


def _single_failure(message: str) -> _Line:
    line = _Line(1, "")
    line.fail("", message)
    return line


def _split(raw: str, delimiter: str) -> list[str]:
    return next(csv.reader([raw], delimiter=delimiter, strict=True), [])


def _read_header(line: _Line, raw: str, delimiter: str) -> tuple[str, ...]:
    try:
        cells = _split(raw.lstrip("\ufeff"), delimiter)
    except csv.Error as error:
        line.fail("", f"the header cannot be read as CSV ({error})")
        return ()
    names = tuple(cell.strip().lower() for cell in cells)
    unknown = [name for name in names if name not in COLUMNS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if unknown:
        quoted = ", ".join(quote(name) for name in unknown)
        line.fail(
            "",
            f"the header names unknown columns {quoted}; expected columns from"
            f" {', '.join(COLUMNS)}",
        )
    if repeated:
        line.fail("", f"the header names {', '.join(repeated)} twice")
    if missing:
        line.fail(
            "",
            f"the header lacks the required columns {', '.join(missing)}; expected"
            f" a header such as {HEADER_EXAMPLE}",
        )
    if ("start" in names) != ("end" in names):
        line.fail("", "the header names only one of start and end; name both or none")
    line.note = f"the header names the columns {', '.join(names)}"
    return names


def _read_line(
    line: _Line,
    raw: str,
    columns: tuple[str, ...],
    delimiter: str,
    first_line_of_key: dict[tuple[str, date], int],
) -> None:
    if not raw.strip():
        line.note = "the line is empty"
        return
    try:
        cells = _split(raw, delimiter)
    except csv.Error as error:
        line.fail("", f"the line cannot be read as CSV ({error})")
        return
    if len(cells) != len(columns):
        line.fail(
            "",
            f"the line has {len(cells)} cells but the header names {len(columns)}"
            f" columns ({', '.join(columns)}); check the separator {delimiter!r}"
            " and quotes",
        )
        return
    row = dict(zip(columns, (cell.strip() for cell in cells)))

    ref = row["driver_external_ref"]
    if not ref:
        line.fail("driver_external_ref", "is empty; give the driver's external_ref")
    day = _local_date(line, row["date"])
    status = row["status"].upper()
    if status not in AVAILABILITY_STATUSES:
        line.fail(
            "status",
            f"{quote(row['status'])} is not a status; use one of"
            f" {', '.join(AVAILABILITY_STATUSES)}",
        )
    start = _minute(line, "start", row.get("start", ""))
    end = _minute(line, "end", row.get("end", ""), end_of_day=True)
    for column, other in (("start", "end"), ("end", "start")):
        if not row.get(column) and row.get(other):
            line.fail(
                column,
                "is empty; give both start and end of the window, or neither for"
                " the whole day",
            )
    if start is not None and end is not None and end <= start:
        line.fail("end", f"{row['end']} is not after the start {row['start']}")
    note = row.get("note", "")
    if len(note) > MAX_NOTE_LENGTH:
        line.fail(
            "note",
            f"has {len(note)} characters, more than {MAX_NOTE_LENGTH}; shorten it",
        )
    if ref and day is not None:
        earlier = first_line_of_key.setdefault((ref, day), line.number)
        if earlier != line.number:
            line.fail(
                "date",
                f"driver {quote(ref)} has {day.isoformat()} on line {earlier}"
                " already; each driver and date may appear once",
            )
    if line.failures or day is None:
        return
    try:
        value = checked_input("line", ExceptionInput(status, start, end, note))
    except InvalidInput as error:
        line.fail(error.field.removeprefix("line."), error.reason)
        return
    line.ref, line.day, line.value = ref, day, value


def _local_date(line: _Line, cell: str) -> date | None:
    """Read a date cell as a Europe/Vienna date, recording a failure if invalid."""
    text = cell.strip()
    german = _GERMAN_DATE.fullmatch(text)
    try:
        if german:
            day, month, year = (int(part) for part in german.groups())
            return date(year, month, day)
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if len(text) > 10 and _ISO_DATE.match(text):
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is not None:
                moment = moment.astimezone(LOCAL_ZONE)
            return moment.date()
    except ValueError as error:
        line.fail("date", f"{quote(text)} is not a valid date ({error})")
        return None
    line.fail(
        "date",
        f"{quote(text)} is not a date; use 2026-12-07, 07.12.2026 or a timestamp"
        " with a UTC offset such as 2026-12-07T08:00:00+01:00",
    )
    return None


def _minute(
    line: _Line, column: str, cell: str, end_of_day: bool = False
) -> int | None:
    """Read HH:MM as minutes after midnight; 24:00 only for the end of a window."""
    text = cell.strip()
    if not text:
        return None
    match = _CLOCK.fullmatch(text)
    if match:
        hours, minutes = int(match.group(1)), int(match.group(2))
        minute = hours * 60 + minutes
        limit = MINUTES_PER_DAY if end_of_day else MINUTES_PER_DAY - 1
        if minutes < 60 and minute <= limit:
            return minute
    latest = "24:00" if end_of_day else "23:59"
    line.fail(column, f"{quote(text)} is not a time from 00:00 to {latest} as HH:MM")
    return None


# --- The result -----------------------------------------------------------------


def _result(
    filename: str,
    lines: list[_Line],
    *,
    applied: bool,
    created: int = 0,
    updated: int = 0,
    unchanged: int = 0,
    weeks: int = 0,
) -> ExceptionImportResult:
    reports: list[ExceptionLineReport] = []
    for line in lines:
        if line.failures:
            reports.extend(
                ExceptionLineReport(
                    line.number, field_name, LineStatus.FAILURE, message, line.raw
                )
                for field_name, message in line.failures
            )
            continue
        message = line.note or "the line is valid"
        reports.append(
            ExceptionLineReport(line.number, "", LineStatus.PASS, message, line.raw)
        )
    return ExceptionImportResult(
        filename=filename,
        lines=tuple(reports),
        applied=applied,
        created=created,
        updated=updated,
        unchanged=unchanged,
        weeks=weeks,
    )


def _audit_file(
    session: Session,
    actor: Actor,
    action: str,
    sha256: str,
    result: ExceptionImportResult,
) -> None:
    append_entry(
        session,
        actor,
        action,
        "availability import",
        sha256[:16],
        {
            "sha256": sha256,
            "lines": len({line.line_number for line in result.lines}),
            "failures": len(result.failures),
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "weeks": result.weeks,
        },
    )
