"""Forecast versions of a tenant's week, with their templates and expanded tours."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import ForecastStatus, ForecastVersion, TourRow, TourTemplateRow
from solver.tours import Forecast, Tour, TourTemplate, expand


def find_by_hash(
    session: Session, tenant_id: int, week_anchor: date, sha256: str
) -> ForecastVersion | None:
    """Return the tenant's version of this week with this forecast hash, or None."""
    statement = select(ForecastVersion).where(
        ForecastVersion.tenant_id == tenant_id,
        ForecastVersion.week_anchor == week_anchor,
        ForecastVersion.sha256 == sha256,
    )
    return session.scalars(statement).one_or_none()


def latest(
    session: Session, tenant_id: int, week_anchor: date, *, accepted_only: bool = False
) -> ForecastVersion | None:
    """Return the tenant's newest version of this week, or None.

    With `accepted_only`, rejected imports are skipped, which gives the
    version a new import is compared against.
    """
    statement = (
        select(ForecastVersion)
        .where(
            ForecastVersion.tenant_id == tenant_id,
            ForecastVersion.week_anchor == week_anchor,
        )
        .order_by(ForecastVersion.version_number.desc())
        .limit(1)
    )
    if accepted_only:
        statement = statement.where(ForecastVersion.status == ForecastStatus.ACCEPTED)
    return session.scalars(statement).one_or_none()


def get_version(
    session: Session, tenant_id: int, forecast_version_id: int
) -> ForecastVersion | None:
    """Return the tenant's forecast version with this id, or None."""
    statement = select(ForecastVersion).where(
        ForecastVersion.tenant_id == tenant_id,
        ForecastVersion.id == forecast_version_id,
    )
    return session.scalars(statement).one_or_none()


def list_versions(
    session: Session, tenant_id: int, week_anchor: date
) -> list[ForecastVersion]:
    """Return the tenant's versions of this week, oldest first."""
    statement = (
        select(ForecastVersion)
        .where(
            ForecastVersion.tenant_id == tenant_id,
            ForecastVersion.week_anchor == week_anchor,
        )
        .order_by(ForecastVersion.version_number)
    )
    return list(session.scalars(statement))


def add_version(
    session: Session,
    tenant_id: int,
    week_anchor: date,
    forecast: Forecast | None,
    *,
    source_filename: str,
    source_format: str,
    line_report: list[dict[str, Any]],
    diff: dict[str, Any] | None,
    created_by: int | None,
    rejected_sha256: str | None = None,
) -> ForecastVersion:
    """Store the next version of the week with its templates and expanded tours.

    A forecast of None stores a rejected import: its line report is kept for
    the record, it has no tours and cannot be solved. Its hash is
    `rejected_sha256`, which the caller computes over the uploaded bytes, so a
    second upload of the same file finds the first.

    The version number is one more than the week's newest. Two concurrent
    imports of the same week cannot both take a number: the unique constraint
    on (tenant_id, week_anchor, version_number) rejects the second flush.
    """
    if forecast is None and rejected_sha256 is None:
        raise ValueError("a rejected import needs rejected_sha256, the file's hash")
    if forecast is not None and rejected_sha256 is not None:
        raise ValueError("rejected_sha256 is only for imports without a forecast")

    if forecast is not None:
        status = ForecastStatus.ACCEPTED
        sha256 = forecast.sha256
        tour_count = forecast.tour_count
        holidays = list(forecast.holidays)
    else:
        status = ForecastStatus.REJECTED
        sha256 = rejected_sha256
        tour_count = 0
        holidays = []

    previous = latest(session, tenant_id, week_anchor)
    version = ForecastVersion(
        tenant_id=tenant_id,
        week_anchor=week_anchor,
        version_number=1 if previous is None else previous.version_number + 1,
        source_filename=source_filename,
        source_format=source_format,
        sha256=sha256,
        status=status,
        tour_count=tour_count,
        holidays=holidays,
        line_report=line_report,
        diff=diff,
        created_by=created_by,
    )
    session.add(version)
    session.flush()
    if forecast is None:
        return version

    session.add_all(
        TourTemplateRow(
            tenant_id=tenant_id,
            forecast_version_id=version.id,
            day=template.day,
            start_minute=template.start_minute,
            end_minute=template.end_minute,
            count=template.count,
            depot=template.depot,
            qualification=template.qualification,
        )
        for template in forecast.templates
    )
    session.add_all(
        TourRow(
            tenant_id=tenant_id,
            forecast_version_id=version.id,
            tour_id=tour.tour_id,
            day=tour.day,
            week_start=tour.week_start,
            week_end=tour.week_end,
            depot=tour.depot,
            qualification=tour.qualification,
        )
        for tour in expand(forecast)
    )
    session.flush()
    return version


def load_forecast(
    session: Session, tenant_id: int, forecast_version_id: int
) -> Forecast | None:
    """Rebuild the canonical forecast of a stored version, or return None."""
    version = get_version(session, tenant_id, forecast_version_id)
    if version is None:
        return None
    statement = select(TourTemplateRow).where(
        TourTemplateRow.tenant_id == tenant_id,
        TourTemplateRow.forecast_version_id == forecast_version_id,
    )
    templates = [
        TourTemplate(
            day=row.day,
            start_minute=row.start_minute,
            end_minute=row.end_minute,
            count=row.count,
            depot=row.depot,
            qualification=row.qualification,
        )
        for row in session.scalars(statement)
    ]
    return Forecast.from_templates(templates, holidays=version.holidays)


def list_tours(
    session: Session, tenant_id: int, forecast_version_id: int
) -> list[Tour]:
    """Return the stored tours of the tenant's version in week order, or []."""
    statement = (
        select(TourRow)
        .where(
            TourRow.tenant_id == tenant_id,
            TourRow.forecast_version_id == forecast_version_id,
        )
        .order_by(TourRow.week_start, TourRow.week_end, TourRow.tour_id)
    )
    return [
        Tour(
            week_start=row.week_start,
            week_end=row.week_end,
            tour_id=row.tour_id,
            day=row.day,
            depot=row.depot,
            qualification=row.qualification,
        )
        for row in session.scalars(statement)
    ]


def count_versions(session: Session, tenant_id: int) -> int:
    """Return how many forecast versions the tenant has stored."""
    statement = (
        select(func.count())
        .select_from(ForecastVersion)
        .where(ForecastVersion.tenant_id == tenant_id)
    )
    return session.scalar(statement) or 0


def list_tenant_versions(
    session: Session, tenant_id: int, week_anchor: date | None = None
) -> list[ForecastVersion]:
    """Return the tenant's versions, newest week first and newest version first.

    With `week_anchor`, only the versions of that week.
    """
    statement = (
        select(ForecastVersion)
        .where(ForecastVersion.tenant_id == tenant_id)
        .order_by(
            ForecastVersion.week_anchor.desc(), ForecastVersion.version_number.desc()
        )
    )
    if week_anchor is not None:
        statement = statement.where(ForecastVersion.week_anchor == week_anchor)
    return list(session.scalars(statement))
