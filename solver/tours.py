"""The canonical forecast of one week and its expansion into tours.

A tour template gives a weekday (ISO 8601: 1 = Monday to 7 = Sunday), a start
and an end time in minutes after midnight, a count, and an optional depot and
required qualification. An end at or before the start means the tour ends on
the next day. "24:00" is stored as an end of 0, midnight at the end of the
day. A template with count N expands into N tours.

Times inside a week are counted in minutes from Monday 00:00, so a Thursday
tour from 22:00 to 06:00 runs from minute 4 * 1440 - 120 to 4 * 1440 + 360.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

MINUTES_PER_DAY = 24 * 60
WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)
WEEKDAY_SHORT_NAMES = {1: "Mo", 2: "Di", 3: "Mi", 4: "Do", 5: "Fr", 6: "Sa", 7: "So"}


def format_clock(minute_of_day: int) -> str:
    """Format minutes after midnight as HH:MM (0 gives 00:00)."""
    hours, minutes = divmod(minute_of_day % MINUTES_PER_DAY, 60)
    return f"{hours:02d}:{minutes:02d}"


@dataclass(frozen=True, order=True)
class TourTemplate:
    """Demand for `count` identical tours on one weekday."""

    day: int
    start_minute: int
    end_minute: int
    count: int
    depot: str = ""
    qualification: str = ""

    def __post_init__(self) -> None:
        if self.day not in WEEKDAYS:
            raise ValueError(
                f"weekday must be 1 (Monday) to 7 (Sunday), got {self.day}"
            )
        for name in ("start_minute", "end_minute"):
            value = getattr(self, name)
            if not 0 <= value < MINUTES_PER_DAY:
                raise ValueError(f"{name} must lie in 0..1439, got {value}")
        if self.start_minute == self.end_minute:
            raise ValueError(
                f"tour {format_clock(self.start_minute)}"
                f"-{format_clock(self.end_minute)} starts and ends at the same time"
            )
        if self.count < 0:
            raise ValueError(f"tour count must not be negative, got {self.count}")

    @property
    def duration_minutes(self) -> int:
        return (self.end_minute - self.start_minute) % MINUTES_PER_DAY

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    @property
    def key(self) -> tuple[int, int, int, str, str]:
        """Identity of a template: weekday, start, end, depot and qualification."""
        return (
            self.day,
            self.start_minute,
            self.end_minute,
            self.depot,
            self.qualification,
        )

    @property
    def label(self) -> str:
        text = (
            f"{WEEKDAY_SHORT_NAMES[self.day]} {format_clock(self.start_minute)}"
            f"-{format_clock(self.end_minute)}"
        )
        if self.depot:
            text += f" depot {self.depot}"
        if self.qualification:
            text += f" needs {self.qualification}"
        return text


@dataclass(frozen=True, order=True)
class Tour:
    """One unit of work for one driver, placed in the week.

    `week_start` and `week_end` count minutes from Monday 00:00, so a tour that
    crosses midnight has `week_end` on the next day.
    """

    week_start: int
    week_end: int
    tour_id: str
    day: int
    depot: str = ""
    qualification: str = ""

    @property
    def duration_minutes(self) -> int:
        return self.week_end - self.week_start

    @property
    def start_minute(self) -> int:
        return self.week_start % MINUTES_PER_DAY

    @property
    def end_minute(self) -> int:
        return self.week_end % MINUTES_PER_DAY


@dataclass(frozen=True)
class Forecast:
    """The canonical demand of one week: templates merged by key and sorted.

    Templates with the same key are merged by adding their counts, and
    templates with count 0 are dropped, so the same demand written in any
    format and any line order gives equal forecasts and equal hashes.
    `holidays` lists weekdays the source marked as public holidays; they carry
    no tours and do not enter the hash.
    """

    templates: tuple[TourTemplate, ...]
    holidays: tuple[int, ...] = ()

    @classmethod
    def from_templates(
        cls, templates: Iterable[TourTemplate], holidays: Iterable[int] = ()
    ) -> Forecast:
        """Build the canonical forecast from templates in any order."""
        counts: dict[tuple[int, int, int, str, str], int] = {}
        for template in templates:
            counts[template.key] = counts.get(template.key, 0) + template.count
        merged = tuple(
            TourTemplate(day, start, end, count, depot, qualification)
            for (day, start, end, depot, qualification), count in sorted(counts.items())
            if count > 0
        )
        return cls(templates=merged, holidays=tuple(sorted(set(holidays))))

    @property
    def tour_count(self) -> int:
        return sum(template.count for template in self.templates)

    @property
    def sha256(self) -> str:
        """Hash of the canonical templates, independent of format and line order."""
        rows = [
            [
                template.day,
                format_clock(template.start_minute),
                format_clock(template.end_minute),
                template.count,
                template.depot,
                template.qualification,
            ]
            for template in self.templates
        ]
        text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tour_id_prefix(template: TourTemplate) -> str:
    """Build the id stem shared by the tours of one template, e.g. Mo-0445-0915."""
    parts = [
        WEEKDAY_SHORT_NAMES[template.day],
        format_clock(template.start_minute).replace(":", ""),
        format_clock(template.end_minute).replace(":", ""),
    ]
    if template.depot:
        parts.append(template.depot.replace(" ", "_"))
    if template.qualification:
        parts.append(template.qualification)
    return "-".join(parts)


def expand(forecast: Forecast) -> list[Tour]:
    """Expand each template into `count` tours with stable ids, in week order.

    The id is the template's stem and a running number from 01, so the same
    forecast always gives the same ids and adding tours to one template leaves
    the ids of the others unchanged.
    """
    tours = []
    for template in forecast.templates:
        week_start = (template.day - 1) * MINUTES_PER_DAY + template.start_minute
        week_end = week_start + template.duration_minutes
        stem = tour_id_prefix(template)
        for number in range(1, template.count + 1):
            tours.append(
                Tour(
                    week_start=week_start,
                    week_end=week_end,
                    tour_id=f"{stem}-{number:02d}",
                    day=template.day,
                    depot=template.depot,
                    qualification=template.qualification,
                )
            )
    return sorted(
        tours, key=lambda tour: (tour.week_start, tour.week_end, tour.tour_id)
    )
