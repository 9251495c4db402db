"""The KPI history of a tenant's approved plans and the tenant's cost settings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.models import (
    Assignment,
    KpiHistoryRow,
    PlanVersion,
    TenantCostSetting,
    TourRow,
)


def find_week(
    session: Session, tenant_id: int, week_anchor: date
) -> KpiHistoryRow | None:
    """Return the tenant's history row of this week, or None."""
    statement = select(KpiHistoryRow).where(
        KpiHistoryRow.tenant_id == tenant_id,
        KpiHistoryRow.week_anchor == week_anchor,
    )
    return session.scalars(statement).one_or_none()


def list_weeks(
    session: Session,
    tenant_id: int,
    first_week: date | None = None,
    last_week: date | None = None,
) -> list[KpiHistoryRow]:
    """Return the tenant's history rows, oldest week first, within the given weeks."""
    statement = (
        select(KpiHistoryRow)
        .where(KpiHistoryRow.tenant_id == tenant_id)
        .order_by(KpiHistoryRow.week_anchor)
    )
    if first_week is not None:
        statement = statement.where(KpiHistoryRow.week_anchor >= first_week)
    if last_week is not None:
        statement = statement.where(KpiHistoryRow.week_anchor <= last_week)
    return list(session.scalars(statement))


def save_week(session: Session, row: KpiHistoryRow) -> KpiHistoryRow:
    """Store the row as its week's history, overwriting the week's row if it has one.

    The existing row is updated in place, because an INSERT before the DELETE
    of the old row would break the unique (tenant_id, week_anchor) constraint.
    """
    existing = find_week(session, row.tenant_id, row.week_anchor)
    if existing is None:
        session.add(row)
        session.flush()
        return row
    for column in KpiHistoryRow.__table__.columns:
        if column.key not in ("id", "tenant_id", "week_anchor"):
            setattr(existing, column.key, getattr(row, column.key))
    session.flush()
    return existing


def delete_weeks_before(session: Session, tenant_id: int, week_anchor: date) -> int:
    """Delete the tenant's rows of weeks before this Monday and return their count."""
    statement = delete(KpiHistoryRow).where(
        KpiHistoryRow.tenant_id == tenant_id,
        KpiHistoryRow.week_anchor < week_anchor,
    )
    return session.execute(statement).rowcount


def covered_tour_minutes(session: Session, version: PlanVersion) -> int:
    """Sum the durations of the tours that the version gives to a driver, in minutes."""
    statement = (
        select(func.coalesce(func.sum(TourRow.week_end - TourRow.week_start), 0))
        .select_from(Assignment)
        .join(
            TourRow,
            (TourRow.tenant_id == Assignment.tenant_id)
            & (TourRow.forecast_version_id == version.forecast_version_id)
            & (TourRow.tour_id == Assignment.tour_id),
        )
        .where(
            Assignment.tenant_id == version.tenant_id,
            Assignment.plan_version_id == version.id,
        )
    )
    return int(session.scalar(statement))


def cost_setting(session: Session, tenant_id: int) -> TenantCostSetting | None:
    """Return the tenant's cost settings, or None when it keeps the defaults."""
    return session.get(TenantCostSetting, tenant_id)


def save_cost_setting(
    session: Session,
    tenant_id: int,
    *,
    cost_per_driver_week: Decimal | None,
    history_retention_days: int,
    updated_at: datetime,
    updated_by: int | None,
) -> TenantCostSetting:
    """Store the tenant's cost settings, adding its row on first use."""
    setting = session.get(TenantCostSetting, tenant_id)
    if setting is None:
        setting = TenantCostSetting(tenant_id=tenant_id)
        session.add(setting)
    setting.cost_per_driver_week = cost_per_driver_week
    setting.history_retention_days = history_retention_days
    setting.updated_at = updated_at
    setting.updated_by = updated_by
    session.flush()
    return setting
