"""The panel queries of the Grafana dashboard run on PostgreSQL and read kpi_history.

The test expands the Grafana macros the dashboard uses ($__time and
$__timeFilter) as Grafana's PostgreSQL data source expands them, then runs
every panel query as a reporting role set up the way deploy/grafana/README.md
describes: SELECT on kpi_history only, pinned to one tenant through the
role's app.tenant_id default. Another tenant's weeks in the same database
must not show up. These tests need PostgreSQL: they fail when CI=true and it
cannot be reached, and are skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.approvals import approve_plan
from core.context import configure
from core.permissions import Role
from db.models import KpiHistoryRow
from db.session import make_engine
from db.sql_guard_rules import TENANT_SETTING
from tests.integration.databases import Database, add_tenant
from tests.integration.services.helpers import add_draft, import_week

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboard.json"
)
# The dashboard's time range in this test; every week below lies inside it.
TIME_FROM = datetime(2025, 1, 1, tzinfo=UTC)
TIME_TO = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")
# (Monday, drivers, part-time rosters, hours, cost) of the reporting tenant.
WEEKS = [
    (date(2025, 11, 3), 10, 2, 400.0, Decimal("10000.00")),
    (date(2025, 11, 10), 12, 3, 450.5, None),
    (date(2025, 12, 8), 8, 0, 300.0, Decimal("8000.00")),
]
# A week before the time range, which $__timeFilter must leave out.
EARLY_WEEK = (date(2024, 12, 30), 99, 9, 999.0, Decimal("1.00"))


def expand_macros(sql: str) -> str:
    """Expand $__time(column) and $__timeFilter(column) as Grafana does.

    Raises ValueError for any other macro, so that a new macro in the
    dashboard gets an expansion here before it is trusted.
    """

    def expand(match: re.Match[str]) -> str:
        name, argument = match.group(1), match.group(2).strip()
        if name == "time":
            return f'{argument} AS "time"'
        if name == "timeFilter":
            return (
                f"{argument} BETWEEN '{TIME_FROM.isoformat()}'"
                f" AND '{TIME_TO.isoformat()}'"
            )
        raise ValueError(f"macro $__{name} has no expansion in this test")

    expanded = MACRO.sub(expand, sql)
    if "$__" in expanded or "$" in expanded.replace("$$", ""):
        raise ValueError(f"query still holds a macro or variable: {expanded}")
    return expanded


def panel_queries() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return {
        panel["title"]: target["rawSql"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }


@pytest.fixture
def reporting_tenant(postgres: Database, small_solve_result) -> int:
    """A tenant with WEEKS and EARLY_WEEK, next to another tenant with its own weeks."""
    configure(postgres.engine)
    tenant = add_tenant(postgres.session_factory)
    other = add_tenant(postgres.session_factory)
    for owner, weeks in ((tenant, [*WEEKS, EARLY_WEEK]), (other, WEEKS)):
        version_id = _approved_version_id(postgres, owner, small_solve_result)
        _add_weeks(postgres, owner.tenant_id, version_id, weeks)
    return tenant.tenant_id


def _approved_version_id(postgres: Database, tenant, small_solve_result) -> int:
    forecast_version_id = import_week(
        tenant.actor(Role.DISPATCHER), week_anchor=date(2026, 1, 5)
    ).forecast_version_id
    draft = add_draft(
        postgres,
        tenant.tenant_id,
        forecast_version_id,
        small_solve_result,
        week_anchor=date(2026, 1, 5),
    )
    approver = tenant.actor(Role.PLAN_APPROVER, mfa_verified=True)
    return approve_plan(
        approver, draft.id, "checked", draft.row_version
    ).plan_version_id


def _add_weeks(postgres, tenant_id, version_id, weeks) -> None:
    with postgres.session_factory() as session, session.begin():
        for week_anchor, drivers, part_time, hours, cost in weeks:
            session.add(
                KpiHistoryRow(
                    tenant_id=tenant_id,
                    week_anchor=week_anchor,
                    plan_version_id=version_id,
                    version_number=1,
                    approved_at=datetime(2025, 12, 1, tzinfo=UTC),
                    drivers=drivers,
                    lower_bound=drivers - 1,
                    gap=0.5,
                    part_time_rosters=part_time,
                    hours=hours,
                    split_blocks=1,
                    single_blocks=2,
                    open_tours=0,
                    cost=cost,
                    kpis={"drivers": drivers},
                )
            )


@pytest.fixture
def reporting_connection(postgres: Database, reporting_tenant: int) -> Iterator:
    """Connect as a new role that may read kpi_history only, pinned to the tenant."""
    role = f"solvereign_grafana_{uuid.uuid4().hex[:12]}"
    password = secrets.token_hex(16)
    database = postgres.admin_url.database
    admin = make_engine(
        postgres.admin_url, sql_guard=False, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(
            text(
                f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS'
                f" PASSWORD '{password}'"
            )
        )
        connection.execute(text(f'GRANT SELECT ON kpi_history TO "{role}"'))
        connection.execute(
            text(
                f'ALTER ROLE "{role}" IN DATABASE "{database}"'
                f" SET {TENANT_SETTING} = '{reporting_tenant}'"
            )
        )
    url = make_url(postgres.admin_url).set(username=role, password=password)
    reporting = make_engine(url, sql_guard=False)
    try:
        with reporting.connect() as connection:
            yield connection
    finally:
        reporting.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'REVOKE ALL ON kpi_history FROM "{role}"'))
            connection.execute(text(f'DROP OWNED BY "{role}"'))
            connection.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def run_panel(connection, title: str) -> list[dict]:
    result = connection.execute(text(expand_macros(panel_queries()[title])))
    return [dict(row._mapping) for row in result]


def test_every_panel_reads_kpi_history():
    queries = panel_queries()

    assert len(queries) == 6
    for title, sql in queries.items():
        assert "FROM kpi_history" in sql, title
        assert expand_macros(sql)


def test_unknown_macro_is_rejected():
    with pytest.raises(ValueError, match=r"\$__interval"):
        expand_macros("SELECT $__interval(week_anchor) FROM kpi_history")


def test_drivers_panel_shows_weeks_in_range(reporting_connection):
    rows = run_panel(reporting_connection, "Drivers per week")

    assert list(rows[0]) == ["time", "drivers", "lower bound"]
    assert [row["time"] for row in rows] == [week[0] for week in WEEKS]
    assert [row["drivers"] for row in rows] == [10, 12, 8]
    assert [row["lower bound"] for row in rows] == [9, 11, 7]


def test_part_time_panel_shows_percent(reporting_connection):
    rows = run_panel(reporting_connection, "Part-time share per week")

    assert list(rows[0]) == ["time", "part-time share"]
    assert [row["part-time share"] for row in rows] == [
        Decimal("20.0"),
        Decimal("25.0"),
        Decimal("0.0"),
    ]


def test_hours_panel_shows_tour_hours(reporting_connection):
    rows = run_panel(reporting_connection, "Tour hours per week")

    assert list(rows[0]) == ["time", "tour hours"]
    assert [row["tour hours"] for row in rows] == [400.0, 450.5, 300.0]


def test_cost_panel_skips_weeks_without_cost(reporting_connection):
    rows = run_panel(reporting_connection, "Cost per week")

    assert list(rows[0]) == ["time", "cost"]
    assert [row["time"] for row in rows] == [WEEKS[0][0], WEEKS[2][0]]
    assert [row["cost"] for row in rows] == [Decimal("10000.00"), Decimal("8000.00")]


def test_block_panel_shows_blocks_and_open_tours(reporting_connection):
    rows = run_panel(
        reporting_connection, "Split blocks, single blocks and open tours per week"
    )

    assert list(rows[0]) == ["time", "split blocks", "single blocks", "open tours"]
    assert [
        (row["split blocks"], row["single blocks"], row["open tours"]) for row in rows
    ] == [(1, 2, 0)] * 3


def test_monthly_rollup_panel_is_exact(reporting_connection):
    rows = run_panel(
        reporting_connection, "Monthly rollup (by the month of each week's Monday)"
    )

    assert list(rows[0]) == [
        "month",
        "weeks",
        "average drivers",
        "average part-time share",
        "average hours",
        "total hours",
        "total cost",
    ]
    november, december = rows
    assert november["month"] == "2025-11"
    assert november["weeks"] == 2
    assert november["average drivers"] == Decimal("11.00")
    assert november["average part-time share"] == Decimal("0.2250")
    assert november["average hours"] == Decimal("425.25")
    assert november["total hours"] == Decimal("850.50")
    assert november["total cost"] == Decimal("10000.00")
    assert december["month"] == "2025-12"
    assert december["weeks"] == 1
    assert december["total cost"] == Decimal("8000.00")


def test_reporting_role_sees_its_tenant_only(reporting_connection, reporting_tenant):
    tenants = set(
        reporting_connection.scalars(text("SELECT DISTINCT tenant_id FROM kpi_history"))
    )

    assert tenants == {reporting_tenant}
