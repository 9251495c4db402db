"""Turn the first non-empty sheet of an .xlsx workbook into text rows.

The text parsers then read these rows as they read lines of a text file. An
Excel time (datetime.time, or the time of a datetime.datetime) becomes HH:MM,
and a whole float such as 12.0 becomes "12". Any other float keeps its digits,
such as "0.1875". The tidy parser reads that as a fraction of a day (04:30) in
a time column and rejects it in a count column.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from core.forecast_fields import SourceRow
from solver.tours import MINUTES_PER_DAY

# The date Excel gives the serial number 1.0 in its 1900 and its 1904 date
# system. A time cell holding 1.0 is 24:00, and openpyxl returns it as
# midnight on that date.
_SERIAL_ONE_DATES = frozenset({datetime.date(1900, 1, 1), datetime.date(1904, 1, 2)})

# A time cell within one second of a whole minute is that minute. Excel keeps
# times as binary fractions of a day, so 08:30 may arrive as 08:29:59.999999.
_MAX_SECONDS_OFF_MINUTE = 1.0


class UnreadableWorkbook(ValueError):
    """The content is not an .xlsx workbook that openpyxl can open."""


def read_workbook_rows(content: bytes) -> tuple[list[SourceRow], str]:
    """Read the first sheet with any value as text rows.

    Returns the rows, numbered as in Excel and without empty rows at the end,
    and the title of that sheet. When every sheet is empty, the rows are empty
    and the title is that of the first sheet.

    Raises:
        UnreadableWorkbook: the content is not a valid .xlsx file.
    """
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(content), read_only=True, data_only=True
        )
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise UnreadableWorkbook(str(error)) from error

    try:
        sheets = workbook.worksheets
        for sheet in sheets:
            rows = _read_sheet(sheet)
            if rows:
                return rows, sheet.title
    except (ParseError, KeyError, ValueError) as error:
        raise UnreadableWorkbook(str(error)) from error
    finally:
        workbook.close()
    return [], sheets[0].title if sheets else ""


def _read_sheet(sheet) -> list[SourceRow]:
    # Files written by other tools may carry a wrong sheet size, which would
    # cut rows off in read-only mode, so read until the last stored row.
    sheet.reset_dimensions()
    rows = []
    for number, values in enumerate(
        sheet.iter_rows(min_row=1, values_only=True), start=1
    ):
        cells = [cell_text(value) for value in values]
        while cells and not cells[-1]:
            cells.pop()
        rows.append(
            SourceRow(number, ";".join(cells), sheet=sheet.title, cells=tuple(cells))
        )
    while rows and not rows[-1].cells:
        rows.pop()
    return rows


def cell_text(value: object) -> str:
    """Write one cell value as the text a person would type into a text file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime):
        if value.date() in _SERIAL_ONE_DATES and value.time() == datetime.time(0):
            return "24:00"
        return _clock_text(value.time())
    if isinstance(value, datetime.time):
        return _clock_text(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _duration_text(value)
    return " ".join(str(value).split())


def _clock_text(value: datetime.time) -> str:
    seconds = (
        value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    )
    minutes = round(seconds / 60)
    if abs(seconds - minutes * 60) > _MAX_SECONDS_OFF_MINUTE:
        # Seconds stay visible, and the time reader rejects them.
        return value.strftime("%H:%M:%S")
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}"


def _duration_text(value: datetime.timedelta) -> str:
    """Write a duration cell (number format [h]:mm) as a time of day."""
    minutes = round(value.total_seconds() / 60)
    if minutes == MINUTES_PER_DAY:
        return "24:00"
    hours, minute = divmod(minutes, 60)
    return f"{hours:02d}:{minute:02d}"
