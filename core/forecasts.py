"""Forecast service: import a week's forecast file and read the stored versions.

An import is idempotent per tenant and week: content whose canonical forecast
was imported before for that week returns the earlier version. A changed
forecast becomes the week's next version, with its diff against the newest
accepted version of the week.

A failing import is stored as a rejected version, with its line report and
the SHA-256 of the uploaded bytes, and without templates or tours, so it can
never be solved. It keeps the failed attempt on record for the dispatcher and
for audit. Nothing else changes: the accepted versions of the week and their
plans stay as they were.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from datetime import date, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from sqlalchemy.orm import Session

from core.audit import append_entry
from core.context import authorize, lock_tenant, unit_of_work
from core.errors import InvalidInput
from core.forecast_diff import ForecastDiff, diff_forecasts
from core.forecast_import import parse_forecast
from core.forecast_report import ImportReport, LineReport
from core.permissions import Actor, Permission
from core.tenancy import get_owned
from core.views import ForecastImportResult, ForecastVersionView
from db.models import ForecastVersion
from db.repositories import forecasts
from solver.tours import TourTemplate, format_clock

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# A week's forecast needs a few hundred lines (the 1385-tour benchmark week
# of docs/BENCHMARKS.md has 282), so this leaves ample room. Without the
# limit, a 5 MiB file of empty lines gives millions of line reports: too slow
# to parse and too large to store (PostgreSQL rejects jsonb over 256 MiB).
MAX_FORECAST_LINES = 10_000
# Characters of each source line kept in the stored line report.
MAX_STORED_LINE_CHARACTERS = 200
# forecast_versions.source_filename is VARCHAR(255).
MAX_FILENAME_LENGTH = 255

_ZIP_SIGNATURE = b"PK\x03\x04"

FORECAST_IMPORTED = "forecast.imported"
FORECAST_IMPORT_REJECTED = "forecast.import_rejected"
FORECAST_IMPORT_REPEATED = "forecast.import_repeated"


def import_forecast(
    actor: Actor, week_anchor: date, filename: str, content: bytes
) -> ForecastImportResult:
    """Import a forecast file for the week that starts on `week_anchor`.

    Raises InvalidInput for a week anchor that is not a Monday, content over
    MAX_UPLOAD_BYTES or MAX_FORECAST_LINES, or a file name that cannot be
    stored. Failing lines do not raise: the result carries the line report
    and no version.
    """
    authorize(actor, Permission.FORECAST_WRITE)
    _check_week_anchor(week_anchor)
    filename = _checked_filename(filename)
    if not isinstance(content, bytes):
        raise InvalidInput("content", "expected the uploaded file's bytes")
    if len(content) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            "content",
            f"the file is {len(content)} bytes ({len(content) / 1024 / 1024:.1f} MiB),"
            f" more than the limit of {MAX_UPLOAD_BYTES} bytes (5 MiB);"
            " split the week into a smaller file or remove unused sheets",
        )

    if not content.startswith(_ZIP_SIGNATURE):
        _check_line_count(max(content.count(b"\n"), content.count(b"\r")) + 1)
    # Parsing is pure and may take a while, so it runs before the transaction.
    report = parse_forecast(content, filename=filename)
    # NOTE: a workbook's rows are counted only after it was read, so a highly
    # compressed workbook under MAX_UPLOAD_BYTES can still take long to read.
    _check_line_count(len(report.lines))
    if report.ok:
        sha256 = report.forecast.sha256
    else:
        sha256 = hashlib.sha256(content).hexdigest()

    with unit_of_work(actor) as session:
        # The tenant lock makes two imports of the same file take turns, so
        # the second one finds the first one's version.
        lock_tenant(session, actor.tenant_id)
        existing = forecasts.find_by_hash(session, actor.tenant_id, week_anchor, sha256)
        if existing is not None:
            _audit(session, actor, FORECAST_IMPORT_REPEATED, existing, report)
            return ForecastImportResult(
                report=report,
                version=_view(existing) if report.ok else None,
                created=False,
            )

        diff, diff_record = None, None
        previous = forecasts.latest(
            session, actor.tenant_id, week_anchor, accepted_only=True
        )
        if report.ok and previous is not None:
            before = forecasts.load_forecast(session, actor.tenant_id, previous.id)
            diff = diff_forecasts(before, report.forecast)
            diff_record = _diff_record(diff, previous)

        version = forecasts.add_version(
            session,
            actor.tenant_id,
            week_anchor,
            report.forecast,
            source_filename=filename,
            source_format=report.source_format,
            line_report=[_line_record(line) for line in report.lines],
            diff=diff_record,
            created_by=actor.user_id,
            rejected_sha256=None if report.ok else sha256,
        )
        action = FORECAST_IMPORTED if report.ok else FORECAST_IMPORT_REJECTED
        _audit(session, actor, action, version, report)

    logger.info(
        "forecast version %s of tenant %s stored as %s",
        version.id,
        actor.tenant_id,
        version.status.value,
    )
    if not report.ok:
        return ForecastImportResult(report=report, version=None, created=False)
    return ForecastImportResult(
        report=report, version=_view(version), created=True, diff=diff
    )


def list_forecast_versions(
    actor: Actor, week_anchor: date | None = None
) -> list[ForecastVersionView]:
    """List the tenant's forecast versions, newest week and newest version first.

    Rejected imports are listed too, with status "rejected".
    """
    authorize(actor, Permission.FORECAST_READ)
    if week_anchor is not None:
        _check_week_anchor(week_anchor)
    with unit_of_work(actor) as session:
        versions = forecasts.list_tenant_versions(session, actor.tenant_id, week_anchor)
        return [_view(version) for version in versions]


def get_forecast_version(actor: Actor, forecast_version_id: int) -> ForecastVersionView:
    """Return one forecast version of the actor's tenant with its line report.

    Raises NotFound for a missing id and, with the same message, for another
    tenant's version; the second case is recorded as a security event.
    """
    authorize(actor, Permission.FORECAST_READ)
    with unit_of_work(actor) as session:
        version = get_owned(session, actor, ForecastVersion, forecast_version_id)
        return _view(version)


def template_record(template: TourTemplate) -> dict[str, Any]:
    """Describe a tour template as plain data, with times as HH:MM."""
    return {
        "day": template.day,
        "start": format_clock(template.start_minute),
        "end": format_clock(template.end_minute),
        "count": template.count,
        "depot": template.depot,
        "qualification": template.qualification,
    }


def _check_week_anchor(week_anchor: date) -> None:
    if not isinstance(week_anchor, date) or isinstance(week_anchor, datetime):
        raise InvalidInput("week_anchor", f"expected a date, got {week_anchor!r}")
    if week_anchor.isoweekday() != 1:
        raise InvalidInput(
            "week_anchor",
            f"{week_anchor.isoformat()} is a {week_anchor.strftime('%A')};"
            " choose the Monday that starts the week",
        )


def _checked_filename(filename: str) -> str:
    """Return the file name without folders; raise InvalidInput if it cannot be kept."""
    if not isinstance(filename, str):
        raise InvalidInput("filename", f"expected text, got {type(filename).__name__}")
    # Browsers send a bare name, but some send the client's full path.
    name = PureWindowsPath(PurePosixPath(filename).name).name.strip()
    if any(unicodedata.category(character) == "Cc" for character in name):
        raise InvalidInput(
            "filename", "the file name contains control characters; rename the file"
        )
    if len(name) > MAX_FILENAME_LENGTH:
        raise InvalidInput(
            "filename",
            f"the file name has {len(name)} characters, more than"
            f" {MAX_FILENAME_LENGTH}; rename the file",
        )
    return name


def _check_line_count(line_count: int) -> None:
    if line_count > MAX_FORECAST_LINES:
        raise InvalidInput(
            "content",
            f"the file has {line_count} lines, more than the limit of"
            f" {MAX_FORECAST_LINES}; remove empty lines and other weeks, or split"
            " the file",
        )


def _line_record(line: LineReport) -> dict[str, Any]:
    raw = line.raw
    if len(raw) > MAX_STORED_LINE_CHARACTERS:
        raw = raw[: MAX_STORED_LINE_CHARACTERS - 3] + "..."
    return {
        "line_number": line.line_number,
        "sheet": line.sheet,
        "status": line.status.value,
        "reason": line.reason,
        "raw": raw,
    }


def _diff_record(diff: ForecastDiff, previous: ForecastVersion) -> dict[str, Any]:
    return {
        "against_version_id": previous.id,
        "against_version_number": previous.version_number,
        "summary": diff.summary,
        "added": [template_record(template) for template in diff.added],
        "removed": [template_record(template) for template in diff.removed],
        "changed": [
            {
                "before": template_record(change.before),
                "after": template_record(change.after),
                "fields": list(change.fields),
            }
            for change in diff.changed
        ],
    }


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    version: ForecastVersion,
    report: ImportReport,
) -> None:
    append_entry(
        session,
        actor,
        action,
        "forecast version",
        version.id,
        {
            "week_anchor": version.week_anchor.isoformat(),
            "version_number": version.version_number,
            "sha256": version.sha256,
            "source_format": report.source_format,
            "lines": len(report.lines),
            "failures": len(report.failures),
            "warnings": len(report.warnings),
            "tour_count": version.tour_count,
        },
    )


def _view(version: ForecastVersion) -> ForecastVersionView:
    return ForecastVersionView(
        forecast_version_id=version.id,
        week_anchor=version.week_anchor,
        version_number=version.version_number,
        source_filename=version.source_filename,
        source_format=version.source_format,
        sha256=version.sha256,
        status=version.status.value,
        tour_count=version.tour_count,
        created_at=version.created_at,
        line_report=tuple(version.line_report),
        diff=version.diff,
    )
