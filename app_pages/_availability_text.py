"""Texts of the Availability page: day and driver labels, exceptions, clock times.

Times are minutes after local midnight, written HH:MM; a window may end at
24:00 (1440).
"""

from __future__ import annotations

import re
from datetime import date

from app_pages._display import WEEKDAY_NAMES
from core.availability import AVAILABILITY_STATUSES, DriverWeek, ExceptionInput
from core.errors import InvalidInput, SolvereignError

MINUTES_PER_DAY = 24 * 60
# "" in a status cell deletes that day's exception.
STATUS_OPTIONS = ("", *AVAILABILITY_STATUSES)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def day_label(day: date) -> str:
    """Label a day as the grid's column does, such as "Tue 08.12."."""
    return f"{WEEKDAY_NAMES[day.isoweekday()]} {day:%d.%m.}"


def driver_title(week: DriverWeek) -> str:
    return f"{week.external_ref} ({week.name})" if week.name else week.external_ref


def exception_text(value: ExceptionInput | None) -> str:
    """Write an exception as the grid shows it, such as "VACATION 08:00-12:00"."""
    if value is None:
        return ""
    if value.start_minute is None or value.end_minute is None:
        return value.status
    return f"{value.status} {format_window(value.start_minute, value.end_minute)}"


def error_message(error: SolvereignError) -> str:
    """Word an availability error with the day's label instead of its ISO field."""
    if not isinstance(error, InvalidInput):
        return str(error)
    day_text, _, part = error.field.partition(".")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        return str(error)
    labels = {
        "status": "status",
        "start_minute": "from",
        "end_minute": "to",
        "note": "note",
    }
    subject = day_label(day)
    if part:
        subject += f" {labels.get(part, part)}"
    return f"{subject}: {error.reason}"


def format_clock(minute: int) -> str:
    """Write minutes after midnight as HH:MM, 1440 as 24:00."""
    hours, minutes = divmod(minute, 60)
    return f"{hours:02d}:{minutes:02d}"


def format_window(start: int, end: int) -> str:
    return f"{format_clock(start)}-{format_clock(end)}"


def parse_clock(text: str, field_name: str) -> int:
    """Read HH:MM (00:00 to 24:00) as minutes after midnight, or raise InvalidInput."""
    match = _CLOCK.fullmatch(text.strip())
    minute = None
    if match:
        hours, minutes = int(match.group(1)), int(match.group(2))
        if minutes < 60:
            minute = hours * 60 + minutes
    if minute is None or minute > MINUTES_PER_DAY:
        raise InvalidInput(
            field_name, f"{text.strip()!r} is not a time; use HH:MM from 00:00 to 24:00"
        )
    return minute


def parse_window(window: str) -> tuple[int, int]:
    """Read "HH:MM-HH:MM", as the grid service writes windows, into minutes."""
    start, _, end = window.partition("-")
    return parse_clock(start, "window"), parse_clock(end, "window")


def window_inputs(
    start_text: str, end_text: str, day_name: str = ""
) -> tuple[int | None, int | None]:
    """Read a From/To pair; both empty is the whole day (None, None).

    Raises InvalidInput naming the day and From or To when one is missing or
    unreadable. The service checks that the window ends after its start.
    """
    start_text, end_text = start_text.strip(), end_text.strip()
    prefix = f"{day_name} " if day_name else ""
    if not start_text and not end_text:
        return None, None
    if not start_text or not end_text:
        raise InvalidInput(
            f"{prefix}{'To' if start_text else 'From'}",
            "is empty; give both From and To, or leave both empty for the whole day",
        )
    return (
        parse_clock(start_text, f"{prefix}From"),
        parse_clock(end_text, f"{prefix}To"),
    )
