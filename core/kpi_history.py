"""KPI history of approved plans: weekly rows, monthly rollups, costs and retention.

Approving a plan version writes its week's history row in the approval's
own transaction (`record_approved_version`, called by
core.approvals.approve_plan). There is one row per tenant and week: when a
newer version of the week is approved, its row replaces the older one, so
the history always shows each week's newest approved version.

A row's cost is the version's drivers times the tenant's cost per driver
and week at the moment of approval, or None when the tenant had none set.
Changing the cost later does not reprice weeks already recorded.

Each tenant keeps its history for the period of core.kpi_settings (730
days unless a tenant admin sets another). The retention job deletes
the rows of weeks whose Monday lies more than that many days before today
and appends a `kpi_history.retention_run` entry with the count. Run it
daily, for example from cron:

    .venv/bin/python -m core.kpi_history --retention

The platform operator (system:admin) may compare tenants: one row of
averages per tenant with at least MIN_COMPARISON_WEEKS weeks, labelled
"Tenant A", "Tenant B" and so on in the order of the figures, without ids
or names.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.audit import SystemActor, append_entry
from core.context import authorize, lock_tenant, open_workbench, unit_of_work
from core.kpi_settings import CENT, history_retention_days
from core.permissions import Actor, Permission
from db import cross_tenant
from db.cross_tenant import MIN_COMPARISON_WEEKS, TenantKpiAverages
from db.models import KpiHistoryRow, PlanVersion, utc_now, utc_or_now
from db.repositories import kpi_history, plans

logger = logging.getLogger(__name__)

RETENTION_ACTOR = "kpi-history-retention-job"

RETENTION_RUN = "kpi_history.retention_run"
TENANTS_COMPARED = "kpi_history.tenants_compared"


@dataclass(frozen=True)
class WeeklyKpis:
    """The KPIs of one week's newest approved plan version.

    `part_time_share` is part-time rosters over drivers (0 to 1), None for
    a plan without drivers. `hours` is the total of the covered tours.
    """

    week_anchor: date
    plan_version_id: int
    version_number: int
    approved_at: datetime
    drivers: int
    lower_bound: int | None
    gap: float | None
    part_time_rosters: int
    part_time_share: float | None
    hours: float
    split_blocks: int
    single_blocks: int
    open_tours: int
    cost: Decimal | None


@dataclass(frozen=True)
class MonthlyRollup:
    """The weeks of one calendar month, by the month of each week's Monday.

    Averages are over the month's weeks, rounded to 2 decimals (the share to
    4). `total_cost` sums the weeks that have a cost, and is None when none
    has. `weeks_with_cost` counts those weeks.
    """

    month: date
    weeks: int
    average_drivers: float
    average_part_time_share: float | None
    average_hours: float
    total_hours: float
    total_cost: Decimal | None
    weeks_with_cost: int


@dataclass(frozen=True)
class TenantComparison:
    """One tenant's averages in the comparison, under a label instead of its name."""

    label: str
    weeks: int
    average_drivers: float
    average_part_time_share: float | None
    average_hours: float
    average_cost: float | None


@dataclass(frozen=True)
class HistoryRetention:
    """The outcome of one retention run in one tenant."""

    tenant_id: int
    retention_days: int
    deleted_weeks: int


def record_approved_version(
    session: Session, version: PlanVersion
) -> KpiHistoryRow | None:
    """Write the history row of a version being approved, in the caller's transaction.

    The row replaces the week's earlier row, unless that row belongs to a
    newer version of the week, which is then kept and None is returned.
    """
    plan = plans.get_plan(session, version.tenant_id, version.plan_id)
    if plan is None:
        raise LookupError(f"plan {version.plan_id} of version {version.id} is missing")
    existing = kpi_history.find_week(session, version.tenant_id, plan.week_anchor)
    if existing is not None and existing.version_number > version.version_number:
        return None

    kpis = dict(version.kpis)
    block_mix = kpis.get("block_mix", {})
    drivers = int(kpis.get("drivers", 0))
    setting = kpi_history.cost_setting(session, version.tenant_id)
    cost_per_driver = None if setting is None else setting.cost_per_driver_week
    minutes = kpi_history.covered_tour_minutes(session, version)
    row = KpiHistoryRow(
        tenant_id=version.tenant_id,
        week_anchor=plan.week_anchor,
        plan_version_id=version.id,
        version_number=version.version_number,
        approved_at=version.approved_at or utc_now(),
        drivers=drivers,
        lower_bound=version.lower_bound,
        gap=version.gap,
        part_time_rosters=int(kpis.get("part_time_rosters", 0)),
        hours=round(minutes / 60, 2),
        split_blocks=int(block_mix.get("double_split", 0)),
        single_blocks=int(block_mix.get("single", 0)),
        open_tours=int(kpis.get("tours_uncovered", len(version.uncovered))),
        cost=None if cost_per_driver is None else cost_per_driver * drivers,
        kpis=kpis,
    )
    return kpi_history.save_week(session, row)


def list_weekly_kpis(
    actor: Actor, first_week: date | None = None, last_week: date | None = None
) -> list[WeeklyKpis]:
    """Return the tenant's weekly KPI history, oldest week first, within the weeks."""
    authorize(actor, Permission.PLAN_READ)
    with unit_of_work(actor) as session:
        rows = kpi_history.list_weeks(session, actor.tenant_id, first_week, last_week)
        return [_weekly(row) for row in rows]


def list_monthly_rollups(
    actor: Actor, first_week: date | None = None, last_week: date | None = None
) -> list[MonthlyRollup]:
    """Return the tenant's KPI history rolled up by calendar month, oldest first."""
    return roll_up_by_month(list_weekly_kpis(actor, first_week, last_week))


def roll_up_by_month(weeks: Sequence[WeeklyKpis]) -> list[MonthlyRollup]:
    """Group weeks by the month of their Monday and average or sum their figures."""
    by_month: dict[date, list[WeeklyKpis]] = defaultdict(list)
    for week in weeks:
        by_month[week.week_anchor.replace(day=1)].append(week)

    rollups = []
    for month in sorted(by_month):
        month_weeks = by_month[month]
        shares = [
            week.part_time_share
            for week in month_weeks
            if week.part_time_share is not None
        ]
        costs = [week.cost for week in month_weeks if week.cost is not None]
        total_hours = sum(week.hours for week in month_weeks)
        rollups.append(
            MonthlyRollup(
                month=month,
                weeks=len(month_weeks),
                average_drivers=round(
                    sum(week.drivers for week in month_weeks) / len(month_weeks), 2
                ),
                average_part_time_share=(
                    round(sum(shares) / len(shares), 4) if shares else None
                ),
                average_hours=round(total_hours / len(month_weeks), 2),
                total_hours=round(total_hours, 2),
                total_cost=sum(costs, Decimal(0)) if costs else None,
                weeks_with_cost=len(costs),
            )
        )
    return rollups


def compare_tenants(actor: Actor) -> list[TenantComparison]:
    """Compare the KPI averages of every tenant with enough history, anonymised.

    Only tenants with at least MIN_COMPARISON_WEEKS weeks take part. They
    are labelled "Tenant A", "Tenant B" and so on in the order of their
    figures (average drivers, then hours), never of their ids. The
    comparison is recorded in the actor's own audit trail.
    """
    authorize(actor, Permission.SYSTEM_ADMIN)
    with unit_of_work(actor) as session:
        averages = cross_tenant.kpi_history_comparison(session)
        append_entry(
            session,
            actor,
            TENANTS_COMPARED,
            "kpi history",
            "all tenants",
            {"tenants": len(averages), "min_weeks": MIN_COMPARISON_WEEKS},
        )
    return [
        _comparison(tenant_label(index), figures)
        for index, figures in enumerate(averages)
    ]


def tenant_label(index: int) -> str:
    """Return "Tenant A" for 0, ..., "Tenant Z" for 25, "Tenant AA" for 26 and on."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return f"Tenant {letters}"


def run_history_retention(now: datetime | None = None) -> list[HistoryRetention]:
    """Delete every tenant's KPI history older than its retention period.

    `now` defaults to the current time; tests pass a fixed one.
    """
    now = utc_or_now(now)
    with unit_of_work() as session:
        tenant_ids = cross_tenant.all_tenant_ids(session)
    results = [delete_expired_history(tenant_id, now) for tenant_id in tenant_ids]
    logger.info(
        "kpi history retention at %s: %d weeks deleted in %d tenants",
        now.isoformat(),
        sum(result.deleted_weeks for result in results),
        len(results),
    )
    return results


def delete_expired_history(tenant_id: int, now: datetime) -> HistoryRetention:
    """Delete one tenant's weeks whose Monday is more than its retention period ago.

    A week whose Monday is exactly the period ago is kept until the next
    run. A run that deletes nothing appends no audit entry.
    """
    system = SystemActor(tenant_id, RETENTION_ACTOR)
    with unit_of_work(system) as session:
        lock_tenant(session, tenant_id)
        retention_days = history_retention_days(
            kpi_history.cost_setting(session, tenant_id)
        )
        keep_from = now.date() - timedelta(days=retention_days)
        deleted = kpi_history.delete_weeks_before(session, tenant_id, keep_from)
        if deleted:
            append_entry(
                session,
                system,
                RETENTION_RUN,
                "tenant",
                tenant_id,
                {
                    "retention_days": retention_days,
                    "weeks_before": keep_from.isoformat(),
                    "deleted_weeks": deleted,
                },
            )
    return HistoryRetention(tenant_id, retention_days, deleted)


def _weekly(row: KpiHistoryRow) -> WeeklyKpis:
    share = None if row.drivers == 0 else round(row.part_time_rosters / row.drivers, 4)
    return WeeklyKpis(
        week_anchor=row.week_anchor,
        plan_version_id=row.plan_version_id,
        version_number=row.version_number,
        approved_at=row.approved_at,
        drivers=row.drivers,
        lower_bound=row.lower_bound,
        gap=row.gap,
        part_time_rosters=row.part_time_rosters,
        part_time_share=share,
        hours=row.hours,
        split_blocks=row.split_blocks,
        single_blocks=row.single_blocks,
        open_tours=row.open_tours,
        cost=None if row.cost is None else Decimal(row.cost).quantize(CENT),
    )


def _comparison(label: str, figures: TenantKpiAverages) -> TenantComparison:
    share = figures.average_part_time_share
    cost = figures.average_cost
    return TenantComparison(
        label=label,
        weeks=figures.weeks,
        average_drivers=round(figures.average_drivers, 2),
        average_part_time_share=None if share is None else round(share, 4),
        average_hours=round(figures.average_hours, 2),
        average_cost=None if cost is None else round(cost, 2),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the KPI history retention job once and print what it deleted."""
    parser = argparse.ArgumentParser(
        description="Maintain the KPI history of approved plans."
    )
    parser.add_argument(
        "--retention",
        action="store_true",
        required=True,
        help="delete the weeks older than each tenant's retention period",
    )
    parser.add_argument(
        "--database-url",
        help="database to work on; default DATABASE_URL, else the SQLite file",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    engine = open_workbench(arguments.database_url)
    try:
        for result in run_history_retention():
            print(
                f"tenant {result.tenant_id}: {result.deleted_weeks} weeks of KPI"
                f" history deleted (retention {result.retention_days} days)"
            )
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
