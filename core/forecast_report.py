"""The outcome of a forecast import: one report per line, and the forecast.

`build_report` turns the format parsers' line outcomes into the final report.
It applies the checks that span lines, so they work alike in every format.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from core.forecast_fields import (
    WEEKDAY_NAMES,
    LineOutcome,
    SourceRow,
    describe_template,
    quote,
)
from solver.tours import Forecast, TourTemplate


class LineStatus(enum.Enum):
    """Outcome of one line; only FAILURE blocks the forecast."""

    PASS = "pass"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class LineReport:
    """Outcome of one source line, or one worksheet row, with its reason.

    `reason` is a whole sentence for a dispatcher that starts with the
    position, such as "line 14: '05:30-10:00;x' has no tour count; expected a
    whole number after the semicolon".
    """

    line_number: int
    raw: str
    status: LineStatus
    reason: str
    sheet: str = ""


@dataclass(frozen=True)
class ImportReport:
    """Result of one import: the format read, every line's outcome, the forecast.

    `forecast` is None whenever any line failed.
    """

    source_format: str
    lines: tuple[LineReport, ...]
    forecast: Forecast | None

    @property
    def ok(self) -> bool:
        return not self.failures and self.forecast is not None

    @property
    def failures(self) -> tuple[LineReport, ...]:
        return tuple(line for line in self.lines if line.status is LineStatus.FAILURE)

    @property
    def warnings(self) -> tuple[LineReport, ...]:
        return tuple(line for line in self.lines if line.status is LineStatus.WARNING)

    def require_forecast(self) -> Forecast:
        """Return the forecast, or raise InvalidForecast when any line failed."""
        if self.failures or self.forecast is None:
            raise InvalidForecast(self)
        return self.forecast

    def format_text(self) -> str:
        """Write the report for the command line: a summary, then one line each."""
        passed = len(self.lines) - len(self.failures) - len(self.warnings)
        text_lines = [
            f"forecast import, format {self.source_format}: {len(self.lines)} lines,"
            f" {passed} passed, {len(self.warnings)} with warnings,"
            f" {len(self.failures)} failed"
        ]
        status_tags = {
            LineStatus.PASS: "PASS",
            LineStatus.WARNING: "WARN",
            LineStatus.FAILURE: "FAIL",
        }
        text_lines.extend(
            f"{status_tags[line.status]}  {line.reason}" for line in self.lines
        )
        text_lines.append(_format_result(self))
        return "\n".join(text_lines)


def _format_result(report: ImportReport) -> str:
    forecast = report.forecast
    if forecast is None:
        return (
            f"result: rejected, because {len(report.failures)} line(s) failed;"
            " correct them and import the file again"
        )
    weekdays = sorted({template.day for template in forecast.templates})
    result = (
        f"result: {forecast.tour_count} tours from {len(forecast.templates)}"
        f" templates on {len(weekdays)} weekday(s)"
    )
    if forecast.holidays:
        holidays = ", ".join(WEEKDAY_NAMES[day] for day in forecast.holidays)
        result += f", holidays {holidays}"
    return f"{result}; sha256 {forecast.sha256}"


class InvalidForecast(Exception):
    """A forecast import with failing lines; `report` contains every line."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        failing = "\n".join(line.reason for line in report.failures)
        super().__init__(
            f"the forecast has {len(report.failures)} failing line(s); correct them"
            f" and import the file again:\n{failing}"
        )


def build_report(source_format: str, outcomes: Sequence[LineOutcome]) -> ImportReport:
    """Check holidays and repeats across lines, then build the report and forecast.

    A template on a day that another line marks as a holiday fails. A template
    with count 0, or with the key of an earlier template, gives a warning;
    Forecast.from_templates adds the counts of repeated keys.
    """
    holiday_rows: dict[int, SourceRow] = {}
    for outcome in outcomes:
        for day in outcome.holidays:
            earlier = holiday_rows.setdefault(day, outcome.row)
            if earlier is not outcome.row:
                outcome.warnings.append(
                    f"{quote(outcome.row.raw)} repeats the holiday on"
                    f" {WEEKDAY_NAMES[day]} from {earlier.refer_to(earlier.number)}"
                )

    first_rows: dict[tuple[int, int, int, str, str], SourceRow] = {}
    templates: list[TourTemplate] = []
    for outcome in outcomes:
        for template, subject in outcome.templates:
            _check_template(outcome, template, subject, holiday_rows, first_rows)
            templates.append(template)

    lines = tuple(_line_report(outcome) for outcome in outcomes)
    if any(line.status is LineStatus.FAILURE for line in lines):
        return ImportReport(source_format, lines, None)
    forecast = Forecast.from_templates(templates, holidays=holiday_rows.keys())
    if forecast.tour_count == 0:
        # Every line may pass on its own (headings, holidays, zero counts)
        # while the file as a whole gives nothing to plan.
        last = outcomes[-1].row if outcomes else None
        no_tours = LineReport(
            line_number=last.number if last else 1,
            raw=last.raw if last else "",
            status=LineStatus.FAILURE,
            reason=(
                f"{last.location if last else 'line 1'}: the file ends without a"
                " single tour; expected at least one time range with a count above 0"
            ),
            sheet=last.sheet if last else "",
        )
        return ImportReport(source_format, (*lines, no_tours), None)
    return ImportReport(source_format, lines, forecast)


def _check_template(
    outcome: LineOutcome,
    template: TourTemplate,
    subject: str,
    holiday_rows: dict[int, SourceRow],
    first_rows: dict[tuple[int, int, int, str, str], SourceRow],
) -> None:
    row = outcome.row
    description = describe_template(template)
    holiday_row = holiday_rows.get(template.day)
    if holiday_row is not None:
        outcome.failures.append(
            f"{subject} gives tours on {WEEKDAY_NAMES[template.day]}, which"
            f" {row.refer_to(holiday_row.number)} marks as a public holiday"
        )
    if template.count == 0:
        outcome.warnings.append(
            f"{subject} has tour count 0, so {description} adds no tours"
        )

    earlier = first_rows.get(template.key)
    if earlier is None:
        first_rows[template.key] = row
    elif earlier is row:
        outcome.warnings.append(
            f"{subject} names {description} twice; the counts are added"
        )
    else:
        outcome.warnings.append(
            f"{subject} repeats {description} from {row.refer_to(earlier.number)};"
            " the counts are added"
        )


def _line_report(outcome: LineOutcome) -> LineReport:
    row = outcome.row
    if outcome.failures:
        status = LineStatus.FAILURE
        clauses = outcome.failures
    else:
        status = LineStatus.WARNING if outcome.warnings else LineStatus.PASS
        clauses = [*_pass_clauses(outcome), *outcome.warnings]
    reason = f"{row.location}: " + ". ".join(clauses)
    return LineReport(row.number, row.raw, status, reason, row.sheet)


def _pass_clauses(outcome: LineOutcome) -> list[str]:
    """Say what the line contributes: its note, and the tours of each subject."""
    clauses = [outcome.note] if outcome.note else []
    tours_by_subject: dict[str, list[str]] = {}
    for template, subject in outcome.templates:
        if template.count > 0:
            tours = "tour" if template.count == 1 else "tours"
            tours_by_subject.setdefault(subject, []).append(
                f"{template.count} {tours} on {describe_template(template)}"
            )
    clauses.extend(
        f"{subject} adds {' and '.join(parts)}"
        for subject, parts in tours_by_subject.items()
    )
    return clauses
