"""KPI history: rows written on approval, rollups, costs, retention, comparison."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from core.approvals import approve_plan
from core.context import configure
from core.errors import InvalidInput, PermissionDenied
from core.kpi_history import (
    RETENTION_RUN,
    TenantComparison,
    compare_tenants,
    delete_expired_history,
    list_monthly_rollups,
    list_weekly_kpis,
    run_history_retention,
    tenant_label,
)
from core.kpi_settings import (
    COST_CHANGED,
    DEFAULT_HISTORY_RETENTION_DAYS,
    get_cost_per_driver,
    get_history_retention_days,
    set_cost_per_driver,
    set_history_retention_days,
)
from core.permissions import Role
from db.models import KpiHistoryRow
from db.repositories import audit_log
from tests.integration.databases import (
    WEEK_ANCHOR,
    add_tenant,
    bind_tenant,
    sqlite_database,
)
from tests.integration.services.helpers import add_draft, import_week

PROJECT_ROOT = Path(__file__).resolve().parents[3]
REASON = "checked against the depot's staff list"
APPROVED_AT = datetime(2025, 12, 1, 9, 0, tzinfo=UTC)
# Weeks of November and December 2025; 2025-12-01 is a Monday.
NOVEMBER_WEEKS = [date(2025, 11, 3), date(2025, 11, 10), date(2025, 11, 24)]
DECEMBER_WEEKS = [date(2025, 12, 1), date(2025, 12, 8)]


@pytest.fixture
def tenant(workbench, make_tenant):
    return make_tenant()


@pytest.fixture
def approver(tenant):
    return tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)


@pytest.fixture
def admin(tenant):
    return tenant.actor(Role.TENANT_ADMIN, mfa_verified=True)


@pytest.fixture
def forecast_version_id(tenant) -> int:
    return import_week(tenant.actor(Role.DISPATCHER)).forecast_version_id


def approve_new_draft(workbench, tenant, approver, forecast_version_id, result):
    draft = add_draft(workbench, tenant.tenant_id, forecast_version_id, result)
    return approve_plan(approver, draft.id, REASON, draft.row_version)


def approved_version_id(workbench, tenant, small_solve_result) -> int:
    """Approve the small week once and return the version, for rows to refer to."""
    forecast_version_id = import_week(tenant.actor(Role.DISPATCHER)).forecast_version_id
    approver = tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)
    return approve_new_draft(
        workbench, tenant, approver, forecast_version_id, small_solve_result
    ).plan_version_id


def add_weeks(workbench, tenant_id, plan_version_id, weeks) -> None:
    """Insert history rows: each week is (Monday, drivers, part-time, hours, cost)."""
    with workbench.session_factory() as session, session.begin():
        for week_anchor, drivers, part_time, hours, cost in weeks:
            session.add(
                KpiHistoryRow(
                    tenant_id=tenant_id,
                    week_anchor=week_anchor,
                    plan_version_id=plan_version_id,
                    version_number=1,
                    approved_at=APPROVED_AT,
                    drivers=drivers,
                    lower_bound=drivers,
                    gap=0.0,
                    part_time_rosters=part_time,
                    hours=hours,
                    split_blocks=0,
                    single_blocks=0,
                    open_tours=0,
                    cost=cost,
                    kpis={"drivers": drivers},
                )
            )


def history_weeks(workbench, tenant_id) -> list[date]:
    with workbench.session_factory() as session:
        statement = (
            select(KpiHistoryRow.week_anchor)
            .where(KpiHistoryRow.tenant_id == tenant_id)
            .order_by(KpiHistoryRow.week_anchor)
        )
        return list(session.scalars(statement))


def entries(workbench, tenant_id, action):
    with workbench.session_factory() as session:
        return audit_log.list_entries(session, tenant_id, action=action)


def covered_hours(result) -> float:
    return round(sum(roster.work_minutes for roster in result.plan.rosters) / 60, 2)


class TestApprovalWritesHistory:
    def test_approval_writes_week_row(
        self, workbench, tenant, approver, forecast_version_id, small_solve_result
    ):
        approved = approve_new_draft(
            workbench, tenant, approver, forecast_version_id, small_solve_result
        )

        weeks = list_weekly_kpis(tenant.actor(Role.VIEWER))

        plan = small_solve_result.plan
        assert len(weeks) == 1
        week = weeks[0]
        assert week.week_anchor == WEEK_ANCHOR
        assert week.plan_version_id == approved.plan_version_id
        assert week.version_number == approved.version_number
        assert week.approved_at == approved.approved_at
        assert week.drivers == plan.driver_count
        assert week.lower_bound == small_solve_result.lower_bound
        assert week.hours == covered_hours(small_solve_result)
        assert week.open_tours == len(plan.uncovered)
        assert week.cost is None

    def test_row_copies_block_mix_and_full_kpis(
        self, workbench, tenant, approver, forecast_version_id, small_solve_result
    ):
        approved = approve_new_draft(
            workbench, tenant, approver, forecast_version_id, small_solve_result
        )

        with workbench.session_factory() as session:
            row = session.scalars(
                select(KpiHistoryRow).where(KpiHistoryRow.tenant_id == tenant.tenant_id)
            ).one()

        assert row.kpis == approved.kpis
        assert row.single_blocks == approved.kpis["block_mix"]["single"]
        assert row.split_blocks == approved.kpis["block_mix"]["double_split"]
        assert row.part_time_rosters == approved.kpis["part_time_rosters"]

    def test_reapproval_replaces_week_row(
        self, workbench, tenant, approver, forecast_version_id, small_solve_result
    ):
        first = approve_new_draft(
            workbench, tenant, approver, forecast_version_id, small_solve_result
        )
        second = approve_new_draft(
            workbench, tenant, approver, forecast_version_id, small_solve_result
        )

        weeks = list_weekly_kpis(approver)

        assert second.version_number == first.version_number + 1
        assert [week.plan_version_id for week in weeks] == [second.plan_version_id]
        assert weeks[0].version_number == second.version_number

    def test_cost_uses_cost_at_approval(
        self,
        workbench,
        tenant,
        approver,
        admin,
        forecast_version_id,
        small_solve_result,
    ):
        set_cost_per_driver(admin, "1250.50")
        approve_new_draft(
            workbench, tenant, approver, forecast_version_id, small_solve_result
        )
        set_cost_per_driver(admin, Decimal("9999.00"))

        week = list_weekly_kpis(approver)[0]

        assert week.cost == Decimal("1250.50") * week.drivers


class TestMonthlyRollups:
    def test_rollup_groups_by_monday_month(self, workbench, tenant, small_solve_result):
        version_id = approved_version_id(workbench, tenant, small_solve_result)
        add_weeks(
            workbench,
            tenant.tenant_id,
            version_id,
            [
                (NOVEMBER_WEEKS[0], 10, 2, 400.0, Decimal("10000.00")),
                (NOVEMBER_WEEKS[1], 12, 3, 450.5, None),
                (NOVEMBER_WEEKS[2], 11, 0, 420.0, Decimal("11000.00")),
                # 2025-12-29 is a Monday whose week ends in January.
                (date(2025, 12, 29), 8, 4, 300.0, Decimal("8000.00")),
            ],
        )

        rollups = list_monthly_rollups(tenant.actor(Role.VIEWER))

        by_month = {rollup.month: rollup for rollup in rollups}
        assert list(by_month) == [date(2025, 11, 1), date(2025, 12, 1)]
        november = by_month[date(2025, 11, 1)]
        assert november.weeks == 3
        assert november.average_drivers == 11.0
        assert november.average_part_time_share == round((0.2 + 0.25 + 0.0) / 3, 4)
        assert november.average_hours == round(1270.5 / 3, 2)
        assert november.total_hours == 1270.5
        assert november.total_cost == Decimal("21000.00")
        assert november.weeks_with_cost == 2
        december = by_month[date(2025, 12, 1)]
        # December contains the small week approved above and the week of the 29th.
        assert december.weeks == 2
        assert december.weeks_with_cost == 1
        assert december.total_cost == Decimal("8000.00")

    def test_weekly_rows_filter_by_weeks(self, workbench, tenant, small_solve_result):
        version_id = approved_version_id(workbench, tenant, small_solve_result)
        add_weeks(
            workbench,
            tenant.tenant_id,
            version_id,
            [(week, 10, 1, 400.0, None) for week in NOVEMBER_WEEKS],
        )

        weeks = list_weekly_kpis(
            tenant.actor(Role.VIEWER), NOVEMBER_WEEKS[1], NOVEMBER_WEEKS[2]
        )

        assert [week.week_anchor for week in weeks] == NOVEMBER_WEEKS[1:]
        assert weeks[0].part_time_share == 0.1


class TestCostSetting:
    def test_admin_sets_and_reads_cost(self, workbench, tenant, admin):
        stored = set_cost_per_driver(admin, "1250.5")

        assert stored == Decimal("1250.50")
        assert get_cost_per_driver(admin) == Decimal("1250.50")
        recorded = entries(workbench, tenant.tenant_id, COST_CHANGED)
        assert [entry.details["cost_per_driver_week"] for entry in recorded] == [
            "1250.50"
        ]

    def test_decimal_comma_read(self, tenant, admin):
        stored = set_cost_per_driver(admin, " 850,50 ")

        assert stored == Decimal("850.50")

    def test_cost_can_be_cleared(self, tenant, admin):
        set_cost_per_driver(admin, 900)

        cleared = set_cost_per_driver(admin, None)

        assert cleared is None
        assert get_cost_per_driver(admin) is None

    @pytest.mark.parametrize(
        "value",
        ["-1", "abc", "12.345", "100000.01", 12.5, True, "NaN", "1,000.50", "1,2,3"],
    )
    def test_invalid_cost_is_rejected(self, tenant, admin, value):
        with pytest.raises(InvalidInput) as rejected:
            set_cost_per_driver(admin, value)

        assert rejected.value.field == "cost_per_driver_week"
        assert get_cost_per_driver(admin) is None

    @pytest.mark.parametrize("role", [Role.VIEWER, Role.DISPATCHER, Role.PLAN_APPROVER])
    def test_only_admin_sets_cost(self, tenant, admin, role):
        with pytest.raises(PermissionDenied):
            set_cost_per_driver(tenant.actor(role, mfa_verified=True), "100")

        assert get_cost_per_driver(admin) is None

    def test_viewer_reads_history_but_not_cost(self, tenant):
        viewer = tenant.actor(Role.VIEWER)

        assert list_weekly_kpis(viewer) == []
        with pytest.raises(PermissionDenied):
            get_cost_per_driver(viewer)


class TestRetention:
    def test_default_retention_is_two_years(self, tenant, admin):
        assert (
            get_history_retention_days(admin) == DEFAULT_HISTORY_RETENTION_DAYS == 730
        )

    def test_retention_and_cost_are_kept_apart(self, tenant, admin):
        set_cost_per_driver(admin, "500")
        set_history_retention_days(admin, 90)

        assert get_cost_per_driver(admin) == Decimal("500.00")
        assert get_history_retention_days(admin) == 90

    @pytest.mark.parametrize("days", [0, 3651, "30", 1.5, True])
    def test_invalid_retention_is_rejected(self, tenant, admin, days):
        with pytest.raises(InvalidInput):
            set_history_retention_days(admin, days)

        assert get_history_retention_days(admin) == DEFAULT_HISTORY_RETENTION_DAYS

    def test_retention_deletes_old_weeks_only(
        self, workbench, tenant, admin, small_solve_result
    ):
        version_id = approved_version_id(workbench, tenant, small_solve_result)
        add_weeks(
            workbench,
            tenant.tenant_id,
            version_id,
            [(week, 10, 1, 400.0, None) for week in NOVEMBER_WEEKS],
        )
        set_history_retention_days(admin, 30)
        # 30 days before 2025-12-10 is 2025-11-10: that week stays, 11-03 goes.
        now = datetime(2025, 12, 10, 3, 0, tzinfo=UTC)

        result = delete_expired_history(tenant.tenant_id, now)

        assert result.deleted_weeks == 1
        assert result.retention_days == 30
        assert history_weeks(workbench, tenant.tenant_id) == [
            NOVEMBER_WEEKS[1],
            NOVEMBER_WEEKS[2],
            WEEK_ANCHOR,
        ]
        runs = entries(workbench, tenant.tenant_id, RETENTION_RUN)
        assert len(runs) == 1
        assert runs[0].details["deleted_weeks"] == 1
        assert runs[0].details["weeks_before"] == "2025-11-10"

    def test_retention_without_old_weeks_writes_nothing(
        self, workbench, tenant, small_solve_result
    ):
        approved_version_id(workbench, tenant, small_solve_result)

        result = delete_expired_history(
            tenant.tenant_id, datetime(2026, 1, 5, tzinfo=UTC)
        )

        assert result.deleted_weeks == 0
        assert history_weeks(workbench, tenant.tenant_id) == [WEEK_ANCHOR]
        assert entries(workbench, tenant.tenant_id, RETENTION_RUN) == []


def test_retention_job_covers_every_tenant(private_workbench, small_solve_result):
    first = add_tenant(private_workbench.session_factory)
    second = add_tenant(private_workbench.session_factory)
    for tenant in (first, second):
        approved_version_id(private_workbench, tenant, small_solve_result)
    now = datetime.combine(
        WEEK_ANCHOR + timedelta(days=DEFAULT_HISTORY_RETENTION_DAYS + 1),
        datetime.min.time(),
        tzinfo=UTC,
    )

    results = run_history_retention(now)

    assert sorted(result.tenant_id for result in results) == sorted(
        [first.tenant_id, second.tenant_id]
    )
    assert all(result.deleted_weeks == 1 for result in results)
    assert history_weeks(private_workbench, first.tenant_id) == []
    assert history_weeks(private_workbench, second.tenant_id) == []


def test_retention_command_prints_each_tenant(tmp_path, small_solve_result):
    database_url = f"sqlite:///{tmp_path / 'retention.db'}"
    with sqlite_database(tmp_path / "retention.db") as database:
        configure(database.engine)
        tenant = add_tenant(database.session_factory)
        approved_version_id(database, tenant, small_solve_result)
        set_history_retention_days(tenant.actor(Role.TENANT_ADMIN), 30)

    completed = subprocess.run(
        [sys.executable, "-m", "core.kpi_history", "--retention"],
        check=False,
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert (
        f"tenant {tenant.tenant_id}: 1 weeks of KPI history deleted"
        " (retention 30 days)" in completed.stdout
    )


def weeks_from(first_week: date, count: int) -> list[date]:
    return [first_week + timedelta(weeks=index) for index in range(count)]


class TestComparison:
    def test_comparison_needs_eight_weeks(self, private_workbench, small_solve_result):
        database = private_workbench
        large, small, new = (add_tenant(database.session_factory) for _ in range(3))
        for tenant, weeks, drivers in ((large, 8, 20), (small, 9, 5), (new, 7, 1)):
            version_id = approved_version_id(database, tenant, small_solve_result)
            add_weeks(
                database,
                tenant.tenant_id,
                version_id,
                [
                    (week, drivers, 1, 100.0, Decimal("1000.00"))
                    for week in weeks_from(date(2024, 1, 1), weeks - 1)
                ],
            )
        super_admin = large.actor(Role.SUPER_ADMIN, mfa_verified=True)

        comparison = compare_tenants(super_admin)

        assert [row.label for row in comparison] == ["Tenant A", "Tenant B"]
        assert [row.weeks for row in comparison] == [9, 8]
        small_week = small_solve_result.plan.driver_count
        assert comparison[0].average_drivers == round((5 * 8 + small_week) / 9, 2)
        assert comparison[1].average_drivers == round((20 * 7 + small_week) / 8, 2)
        assert comparison[0].average_cost == 1000.0

    def test_comparison_names_no_tenant(self, private_workbench, small_solve_result):
        tenant = add_tenant(private_workbench.session_factory)
        version_id = approved_version_id(private_workbench, tenant, small_solve_result)
        add_weeks(
            private_workbench,
            tenant.tenant_id,
            version_id,
            [(week, 3, 0, 10.0, None) for week in weeks_from(date(2024, 1, 1), 8)],
        )

        comparison = compare_tenants(tenant.actor(Role.SUPER_ADMIN))

        assert {field.name for field in fields(TenantComparison)} == {
            "label",
            "weeks",
            "average_drivers",
            "average_part_time_share",
            "average_hours",
            "average_cost",
        }
        assert len(comparison) == 1
        assert tenant.slug not in repr(comparison)
        assert comparison[0].average_cost is None

    @pytest.mark.parametrize(
        "role", [Role.VIEWER, Role.DISPATCHER, Role.PLAN_APPROVER, Role.TENANT_ADMIN]
    )
    def test_only_super_admin_compares(self, tenant, role):
        with pytest.raises(PermissionDenied):
            compare_tenants(tenant.actor(role, mfa_verified=True))


@pytest.mark.parametrize(
    ("index", "label"),
    [(0, "Tenant A"), (25, "Tenant Z"), (26, "Tenant AA"), (27, "Tenant AB")],
)
def test_tenant_label(index, label):
    assert tenant_label(index) == label


def test_row_level_security_separates_tenants(postgres, small_solve_result):
    """Check that the application role bound to one tenant reads no other rows."""
    configure(postgres.engine)
    first = add_tenant(postgres.session_factory)
    second = add_tenant(postgres.session_factory)
    approved_version_id(postgres, first, small_solve_result)
    approved_version_id(postgres, second, small_solve_result)

    with postgres.engine.connect() as connection, connection.begin():
        bind_tenant(connection, first.tenant_id)
        visible = set(
            connection.scalars(text("SELECT DISTINCT tenant_id FROM kpi_history"))
        )
        connection.rollback()

    assert visible == {first.tenant_id}
    assert [week.week_anchor for week in list_weekly_kpis(first.actor())] == [
        WEEK_ANCHOR
    ]
